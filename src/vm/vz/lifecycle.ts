// How a VM helper reads the shim's events into one state and one reason: pure transitions,
// unit-tested. The framework tells an ending twice, in either order: a state change (KVO) and
// a delegate call (guestDidStop / didStopWithError); a forced stop has no delegate call. So a
// delegate call ends the VM at once; a bare "stopped"/"error" state ends it after the helper's
// short grace period (settle), unless the agent forced the stop.

import type { VzEvent } from "../../../ffi/types.ts";
import type { HelperState } from "./protocol.ts";

export interface Lifecycle {
  state: HelperState;
  reason?: string;
  /** Nothing more will happen: the helper reports this and exits. */
  ended: boolean;
  /** What the agent last asked for, to tell "shut down as asked" from "powered off". */
  asked?: "request-stop" | "stop";
}

export const INITIAL: Lifecycle = { state: "created", ended: false };

export const REASON_FORCED = "stopped by the agent";
export const REASON_ASKED = "the guest shut down when asked";
export const REASON_GUEST = "the guest shut down by itself";

/** The VM is in a stopped or error state but has not ended yet: call settle() after a grace. */
export function needsSettle(l: Lifecycle): boolean {
  return !l.ended && (l.state === "stopped" || l.state === "error");
}

export function onEvent(l: Lifecycle, e: VzEvent): Lifecycle {
  if (l.ended) return l;
  switch (e.type) {
    case "state":
      if (e.state === "stopped" && l.asked === "stop") {
        return { ...l, state: "stopped", ended: true, reason: REASON_FORCED };
      }
      return { ...l, state: e.state };
    case "guest-stopped":
      return {
        ...l,
        state: "stopped",
        ended: true,
        reason: l.asked === "request-stop" ? REASON_ASKED : REASON_GUEST,
      };
    case "stopped-with-error":
      return {
        ...l,
        state: "error",
        ended: true,
        reason: `the VM stopped with an error: ${e.error.message} (${e.error.domain} ` +
          `${e.error.code})`,
      };
    case "network-disconnected":
      return l; // the VM runs on without network: logged, not a state
  }
}

/** The agent asked for a stop (before the call is made, so its events read right). */
export function onAsked(l: Lifecycle, op: "request-stop" | "stop"): Lifecycle {
  return l.ended ? l : { ...l, asked: op };
}

/** A forced stop completed: the VM has ended even if its state event is still on its way. */
export function onForcedStop(l: Lifecycle): Lifecycle {
  return l.ended ? l : { ...l, state: "stopped", ended: true, reason: REASON_FORCED };
}

/** Start (or creating the VM) failed: the VM never ran. */
export function onStartFailed(l: Lifecycle, message: string): Lifecycle {
  return { ...l, state: "error", ended: true, reason: `start: ${message}` };
}

/** The grace after a bare stopped/error state is over: end with the best reason known. */
export function settle(l: Lifecycle): Lifecycle {
  if (l.ended) return l;
  if (l.state === "stopped") {
    return {
      ...l,
      ended: true,
      reason: l.asked === "request-stop" ? REASON_ASKED : (l.reason ?? REASON_GUEST),
    };
  }
  if (l.state === "error") {
    return {
      ...l,
      ended: true,
      reason: l.reason ?? "the VM failed: Virtualization.framework reported the error state",
    };
  }
  return l;
}

/** The helper gives up on a VM nobody started (an agent that died between spawn and start). */
export function onAbandoned(l: Lifecycle, why: string): Lifecycle {
  return l.ended
    ? l
    : { ...l, state: l.state === "created" ? "stopped" : l.state, ended: true, reason: why };
}
