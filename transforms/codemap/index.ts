export { CodeMap, CodeMapError, codeMapFrom, loadCodeMap, loadCodeMaps, type MappedCoding } from './load.js';
export { applyCodeMap, UnmappedCounter, type CodeMapResult, type UnmappedCode } from './apply.js';
export { applyCodeMapV2, v2CodePath } from './v2.js';
