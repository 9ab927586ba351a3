export { Hl7Message, parseHl7, parseHeader, HL7_NULL } from './message.js';
export { Segment } from './segment.js';
export { Hl7ParseError, Hl7PathError } from './errors.js';
export { parsePath, formatPath, type Hl7Path } from './path.js';
export { DEFAULT_DELIMITERS, readDelimiters, encodingCharacters, type Delimiters } from './delimiters.js';
export { escapeValue, unescapeValue } from './escape.js';
export { decodeHl7Bytes, encodeHl7Text, type Hl7Encoding } from './charset.js';
export { splitBatch, buildBatch, type Hl7Batch, type BuildBatchOptions } from './batch.js';
export { buildAck, buildNak, ackMode, newControlId, formatHl7Timestamp, HL7_ERROR, type AckCode, type AckOptions, type AckError } from './ack.js';
