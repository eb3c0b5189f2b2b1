// Pure decoding of what the shim returns (JSON texts and state numbers), shared by the real
// FFI wrapper and tested on Linux. Never trusts the text: anything malformed becomes a
// ShimError or an "unknown" state instead of a crash.

import {
  SHIM_ERROR_DOMAIN,
  ShimError,
  type VzErrorInfo,
  type VzEvent,
  type VzHostInfo,
  type VzMachineState,
} from "./types.ts";

const STATES: VzMachineState[] = [
  "stopped",
  "running",
  "paused",
  "error",
  "starting",
  "pausing",
  "resuming",
  "stopping",
  "saving",
  "restoring",
];

/** vzk_vm_state's number -> name. */
export function stateName(n: number): VzMachineState {
  return STATES[n] ?? "unknown";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function errorInfo(v: unknown, fallback: string): VzErrorInfo {
  if (isRecord(v) && typeof v.message === "string") {
    return {
      domain: typeof v.domain === "string" ? v.domain : SHIM_ERROR_DOMAIN,
      code: typeof v.code === "number" ? v.code : 0,
      message: v.message,
    };
  }
  return { domain: SHIM_ERROR_DOMAIN, code: 0, message: fallback };
}

/** An error string of the shim -> ShimError (plain text stays the message). */
export function parseShimError(text: string): ShimError {
  try {
    return new ShimError(errorInfo(JSON.parse(text), text));
  } catch {
    return new ShimError({ domain: SHIM_ERROR_DOMAIN, code: 0, message: text });
  }
}

/** vzk_host_info's JSON; throws when it is not host info (an error object, garbage). */
export function parseHostInfo(text: string): VzHostInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`vz shim: host info is not JSON: ${text.slice(0, 200)}`);
  }
  if (!isRecord(v) || typeof v.maxCpus !== "number") throw parseShimError(text);
  const num = (k: string) => (typeof v[k] === "number" ? v[k] as number : 0);
  const bridged = Array.isArray(v.bridgedInterfaces) ? v.bridgedInterfaces : [];
  return {
    abi: num("abi"),
    // NSNumber booleans arrive as true/false; a BOOL boxed as a char would arrive as 1/0.
    supported: v.supported === true || v.supported === 1,
    macOSVersion: typeof v.macOSVersion === "string" ? v.macOSVersion : "unknown",
    minCpus: num("minCpus"),
    maxCpus: num("maxCpus"),
    minMemoryBytes: num("minMemoryBytes"),
    maxMemoryBytes: num("maxMemoryBytes"),
    bridgedInterfaces: bridged.filter(isRecord).map((b) => ({
      identifier: String(b.identifier ?? ""),
      name: String(b.name ?? b.identifier ?? ""),
    })),
  };
}

/** One event JSON of vzk_vm_next_event; undefined for anything unrecognised. */
export function parseEvent(text: string): VzEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(v)) return undefined;
  switch (v.type) {
    case "state": {
      const state = STATES.includes(v.state as VzMachineState)
        ? v.state as VzMachineState
        : "unknown";
      return { type: "state", state };
    }
    case "guest-stopped":
      return { type: "guest-stopped" };
    case "stopped-with-error":
    case "network-disconnected":
      return { type: v.type, error: errorInfo(v.error, `${v.type} without details`) };
    default:
      return undefined;
  }
}
