// Importing this module registers every built-in component.
import './mllp-source.js';
import './file-source.js';
import './http-source.js';
import './destinations.js';
import './steps.js';
import '../../../transforms/steps/fhir-to-v2.js';
import '../../../transforms/steps/codemap.js';
import '../../fhir/connection.js';
import '../../../transforms/steps/v2-to-fhir.js';
import '../../kafka/index.js';
