// Query parameters of /containerLogs/{ns}/{pod}/{container} turned into LogOptions, with the
// API server's PodLogOptions rules: unparsable values are 400, invalid combinations 422.

import type { LogOptions } from "../runtime/types.ts";

export type ParsedLogOptions =
  | { ok: true; options: LogOptions }
  | { ok: false; code: 400 | 422; message: string };

/** Go's strconv.ParseBool, which the API's parameter codec uses. */
function parseBool(v: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  return undefined;
}

function parseInteger(v: string): number | undefined {
  return /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function parseLogOptions(query: URLSearchParams): ParsedLogOptions {
  const options: LogOptions = {};
  const bad = (message: string): ParsedLogOptions => ({ ok: false, code: 400, message });
  const invalid = (message: string): ParsedLogOptions => ({ ok: false, code: 422, message });

  for (const name of ["follow", "timestamps", "previous"] as const) {
    const v = query.get(name);
    if (v === null || v === "") continue;
    const b = parseBool(v);
    if (b === undefined) return bad(`${name}: ${JSON.stringify(v)} is not a boolean`);
    options[name] = b;
  }
  // `tail` is the kubelet's old spelling of tailLines; "all" means no limit.
  const tail = query.get("tailLines") ?? (query.get("tail") === "all" ? null : query.get("tail"));
  for (
    const [name, raw] of [
      ["tailLines", tail],
      ["limitBytes", query.get("limitBytes")],
      ["sinceSeconds", query.get("sinceSeconds")],
    ] as const
  ) {
    if (raw === null || raw === "") continue;
    const n = parseInteger(raw);
    if (n === undefined) return bad(`${name}: ${JSON.stringify(raw)} is not an integer`);
    options[name] = n;
  }
  const sinceTime = query.get("sinceTime");
  if (sinceTime) {
    const t = RFC3339.test(sinceTime) ? new Date(sinceTime) : undefined;
    if (!t || Number.isNaN(t.getTime())) {
      return bad(`sinceTime: ${JSON.stringify(sinceTime)} is not an RFC 3339 time`);
    }
    options.sinceTime = t;
  }
  if (options.tailLines !== undefined && options.tailLines < 0) {
    return invalid("tailLines: must be greater than or equal to 0");
  }
  if (options.limitBytes !== undefined && options.limitBytes < 1) {
    return invalid("limitBytes: must be greater than 0");
  }
  if (options.sinceSeconds !== undefined && options.sinceSeconds < 1) {
    return invalid("sinceSeconds: must be greater than 0");
  }
  if (options.sinceSeconds !== undefined && options.sinceTime !== undefined) {
    return invalid("sinceSeconds and sinceTime: at most one may be set");
  }
  return { ok: true, options };
}
