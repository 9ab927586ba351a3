// Importing this module registers every built-in component.
import './mllp-source.js';
import './file-source.js';
import './http-source.js';
import './destinations.js';
import './steps.js';
