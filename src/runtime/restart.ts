// Restart policy and CrashLoopBackOff, as the kubelet applies them, for every container
// driver (the VM and Docker containers alike). Pure: the container lifecycle asks whether a
// run that ended is restarted and how long it waits first; nothing here keeps time itself.

import type * as k8s from "@kubernetes/client-node";
import { backoffDelay } from "../util/backoff.ts";

export type RestartPolicy = "Always" | "OnFailure" | "Never";

/** The kubelet's crash-loop back-off: 10 s doubling up to 5 minutes. */
export const CRASH_LOOP_BACKOFF = { initialMs: 10_000, maxMs: 300_000 };
/** A run that lasted this long starts the back-off over (the kubelet's 2 x max). */
export const BACKOFF_RESET_AFTER_MS = 600_000;

/** The pod's restartPolicy (Always when unset, as the API defaults it). */
export function podRestartPolicy(pod: k8s.V1Pod): RestartPolicy {
  const p = pod.spec?.restartPolicy;
  return p === "OnFailure" || p === "Never" ? p : "Always";
}

/**
 * The policy that applies to one container: a container-level restartPolicy (native sidecars:
 * init containers with restartPolicy Always) wins; other init containers are retried unless
 * the pod's policy is Never, as the kubelet does (Always counts as OnFailure for them).
 */
export function containerRestartPolicy(
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  kind: "init" | "regular",
): RestartPolicy {
  if (container.restartPolicy === "Always") return "Always";
  const pod_ = podRestartPolicy(pod);
  if (kind === "init") return pod_ === "Never" ? "Never" : "OnFailure";
  return pod_;
}

/** Whether a run that ended with `exitCode` is started again under `policy`. */
export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
}

/**
 * Per-container back-off state: how many restarts in a row were quick. `next` is asked once
 * per restart with how long the last run lasted, and answers the wait before starting again.
 */
export class CrashLoop {
  #quick = 0;

  /** `backoff` is the kubelet's unless a test needs a faster one. */
  constructor(readonly backoff: { initialMs: number; maxMs: number } = CRASH_LOOP_BACKOFF) {}

  /** The wait before the next start; a long run (>= 10 min) resets the back-off first. */
  next(lastRunMs: number): number {
    if (lastRunMs >= BACKOFF_RESET_AFTER_MS) this.#quick = 0;
    this.#quick++;
    return backoffDelay(this.#quick, this.backoff);
  }

  /** Restarts in a row without a long run in between. */
  get count(): number {
    return this.#quick;
  }
}

/** A duration the way Go prints one, as kubelet messages show it: 500ms, 10s, 1m20s, 5m0s. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h) return `${h}h${m}m${sec}s`;
  return m ? `${m}m${sec}s` : `${sec}s`;
}
