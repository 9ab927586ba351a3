/** The config layer: YAML with positions, validation against the registry, lint, JSON Schema, docs. */
export { loadConfig, loadChannelFiles, loadEngineConfig, lintPaths, ENGINE_FILE_NAMES, type LoadOptions, type LoadResult, type LoadedChannel, type LintResult } from './load.js';
export { formatError, formatErrors, formatPath, didYouMean, type ConfigError, type ConfigPath, type PathSegment } from './errors.js';
export { parseYaml, readYamlFile, type YamlFile, type Position } from './yaml.js';
export { parseDuration, tryParseDuration, durationSchema } from './duration.js';
export { substitute, findLiteralSecrets, isSecretKey } from './secrets.js';
export { jsonSchema, type JsonSchema } from './jsonschema.js';
export { generateReferenceDocs } from './docs.js';
export { expandChannelPatterns } from './files.js';
export { CHANNEL_DESTINATION, CONNECTION_OPTION } from './crossref.js';
export type { ComponentRef } from './components.js';
export {
  BUILTIN_QUEUE, LOG_LEVELS, QUEUE_MODES, RESPOND_FROM, mergeQueue,
  type EngineConfig, type ChannelConfig, type QueueConfig, type QueueOverrides, type BackoffConfig, type RouteRule,
  type FilterConfig, type DestinationConfig, type LogLevel, type QueueMode, type RespondFrom,
} from './schema.js';
