// The control protocol between the agent and a VM helper process (`vm run`): JSON lines over
// the unix socket in the VM's work directory. The agent sends requests `{"id": 1, "op":
// "start"}`; the helper answers each with `{"reply": 1, "ok": true, "status": {...}}` or
// `{"reply": 1, "ok": false, "error": "...", "code": "limit-exceeded"}`, and pushes
// `{"event": "state", "status": {...}}` to every connected client on each change. Also the
// files the helper reads (helper.json) and leaves behind (exit.json).

import {
  SHIM_ERROR_DOMAIN,
  SHIM_ERROR_INVALID_STATE,
  ShimError,
  VZ_ERROR_DOMAIN,
  VZ_ERROR_LIMIT_EXCEEDED,
  type VzMachineState,
} from "../../../ffi/types.ts";
import type { VzDescription } from "./description.ts";

/** The VM as the helper sees it: "created" until started, then the framework's states. */
export type HelperState = "created" | VzMachineState;

export interface HelperStatus {
  /** The VM's id (the pod UID): a client checks it is talking to the right helper. */
  id: string;
  pid: number;
  state: HelperState;
  /** Why it stopped or failed, once it has. */
  reason?: string;
  /** The VM has ended; the helper exits shortly. */
  ended: boolean;
}

export type HelperOp = "status" | "start" | "request-stop" | "stop" | "pause" | "resume";
export const HELPER_OPS: readonly HelperOp[] = [
  "status",
  "start",
  "request-stop",
  "stop",
  "pause",
  "resume",
];

export interface HelperRequest {
  id: number;
  op: HelperOp;
}

/** Why a request failed, for the agent to react to (the limit is a slot wait, not a crash). */
export type HelperErrorCode = "limit-exceeded" | "invalid-state" | "bad-request" | "failed";

export type HelperMessage =
  | { reply: number; ok: true; status: HelperStatus }
  | { reply: number; ok: false; error: string; code: HelperErrorCode }
  | { event: "state"; status: HelperStatus };

/** What the backend writes for the helper: everything it needs to run one VM. */
export interface HelperSpec {
  id: string;
  /** For messages, e.g. "default/runner-1". */
  name: string;
  os: "darwin" | "linux";
  socketPath: string;
  consoleLog: string;
  /** Where the helper writes its last status before exiting. */
  exitFile: string;
  description: VzDescription;
}

const encoder = new TextEncoder();

export function encodeLine(msg: HelperMessage | HelperRequest): Uint8Array {
  return encoder.encode(`${JSON.stringify(msg)}\n`);
}

/** Parsed JSON values of a newline-delimited stream; a malformed line yields undefined. */
export async function* jsonLines(readable: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of readable) {
    buf += decoder.decode(chunk, { stream: true });
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        yield JSON.parse(line);
      } catch {
        yield undefined;
      }
    }
  }
}

/** A request line, or undefined when it is not one. */
export function asRequest(v: unknown): HelperRequest | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.id !== "number" || !HELPER_OPS.includes(r.op as HelperOp)) return undefined;
  return { id: r.id, op: r.op as HelperOp };
}

/** The protocol's code for a failure of the shim (or anything else). */
export function errorCode(err: unknown): HelperErrorCode {
  if (err instanceof ShimError) {
    if (err.is(VZ_ERROR_DOMAIN, VZ_ERROR_LIMIT_EXCEEDED)) return "limit-exceeded";
    if (err.is(SHIM_ERROR_DOMAIN, SHIM_ERROR_INVALID_STATE)) return "invalid-state";
    if (err.domain === VZ_ERROR_DOMAIN && (err.code === 3 || err.code === 4)) {
      return "invalid-state"; // VZErrorInvalidVirtualMachineState / ...StateTransition
    }
  }
  return "failed";
}

/** A failed request, as the agent's client raises it. */
export class HelperError extends Error {
  constructor(message: string, readonly code: HelperErrorCode) {
    super(message);
    this.name = "HelperError";
  }
}
