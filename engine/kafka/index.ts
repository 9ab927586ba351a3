// Importing this module registers the Kafka components (connection, destination, source).
import './connection.js';
import './destination.js';
import './source.js';
