// Structured, leveled logging for the whole agent. One line per record on stderr:
// `time level msg key=value ...` (logfmt), so people can read it and tools can parse it.
// Hand-written rather than a library: logfmt output is ~40 lines and every logging
// library on npm brings transports and worker threads we do not want in a compiled binary.

export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values are never printed. */
const SECRET_KEYS = /pass(word|phrase)?|secret|token|private_?key|authorization/i;

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every record. */
  with(fields: Fields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  write?: (line: string) => void;
}

function formatValue(key: string, value: unknown): string {
  if (SECRET_KEYS.test(key)) return '"[redacted]"';
  let text: string;
  if (value instanceof Error) text = value.message;
  else if (typeof value === "string") text = value;
  else text = JSON.stringify(value) ?? String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

export function formatRecord(
  level: LogLevel,
  msg: string,
  fields: Fields,
  now = new Date(),
): string {
  const parts = [`time=${now.toISOString()}`, `level=${level}`, `msg=${JSON.stringify(msg)}`];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    parts.push(`${k}=${formatValue(k, v)}`);
  }
  return parts.join(" ");
}

export function createLogger(opts: LoggerOptions, base: Fields = {}): Logger {
  const min = ORDER[opts.level];
  const write = opts.write ?? ((line: string) => console.error(line));
  const emit = (level: LogLevel, msg: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    write(formatRecord(level, msg, { ...base, ...fields }));
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (f) => createLogger(opts, { ...base, ...f }),
  };
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });
