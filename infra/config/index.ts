// Stack config: schema, parsing, stack-file reading. See docs/config.md for every key.
export { ConfigError, type ConfigIssue, NAMESPACE, formatKeyPath } from "./errors";
export { SECRET_PLACEHOLDER } from "./checks";
export { parseStackConfig, type ParseOptions } from "./parse";
export { loadStackConfig, namespaceIssues, readStackFile, parseStackText, stackConfigDir, stackFilePath, type StackFile } from "./stackfile";
export { SECRET_KEYS, type SecretKey, stackSchema } from "./schema";
export type * from "./types";
