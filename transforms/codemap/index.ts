export { CodeMap, CodeMapError, codeMapFrom, EQUIVALENCE_POLICIES, loadCodeMap, loadCodeMaps, type CodeMapOptions, type EquivalencePolicy, type MappedCoding, type UnmappedFallback } from './load.js';
export { applyCodeMap, SourceUsage, UnmappedCounter, type CodeMapResult, type UnmappedCode } from './apply.js';
export { applyCodeMapV2, v2CodePath } from './v2.js';
