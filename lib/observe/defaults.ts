/**
 * The HTTP side's defaults, apart from the modules that use them: the CLI
 * names them in its options without loading prom-client and pino, which
 * every `rog` command would otherwise pay for at start.
 */
export const DEFAULT_HTTP_PORT = 7879
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024
export const DEFAULT_MAX_SERIES = 10_000
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
