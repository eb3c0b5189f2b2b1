// Startup, liveness and readiness probes of one container run, with the kubelet's rules:
// nothing but the startup probe runs until it has passed; readiness needs successThreshold
// successes in a row and is lost after failureThreshold failures; failureThreshold liveness
// (or startup) failures in a row kill the run, which then restarts per restartPolicy. Every
// handler a kubelet has (exec, httpGet, tcpSocket, grpc) runs through handlers.ts, so probes
// work alike for the VM and for Docker containers.

import type * as k8s from "@kubernetes/client-node";
import type { ContainerDriver } from "./driver.ts";
import { type HandlerResult, runHandler } from "./handlers.ts";
import { sleepUnlessAborted } from "../util/sleep.ts";

export type ProbeKind = "startup" | "liveness" | "readiness";

/** A probe with the API's defaults applied, in milliseconds. */
export interface ProbeSpec {
  kind: ProbeKind;
  probe: k8s.V1Probe;
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
  /** probe.terminationGracePeriodSeconds: the grace of a kill this probe causes. */
  killGraceMs?: number;
}

export function probeSpec(kind: ProbeKind, p: k8s.V1Probe): ProbeSpec {
  return {
    kind,
    probe: p,
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, p.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, p.timeoutSeconds ?? 1) * 1000,
    // Liveness and startup probes must succeed once; the API enforces 1 for them.
    successThreshold: kind === "readiness" ? Math.max(1, p.successThreshold ?? 1) : 1,
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
    killGraceMs: p.terminationGracePeriodSeconds === undefined
      ? undefined
      : p.terminationGracePeriodSeconds * 1000,
  };
}

/** Counts results in a row and says when a threshold is crossed. Pure. */
export class ProbeTracker {
  #successes = 0;
  #failures = 0;
  #state: "unknown" | "success" | "failure" = "unknown";

  constructor(readonly spec: Pick<ProbeSpec, "successThreshold" | "failureThreshold">) {}

  /** Records one result; returns the new verdict when this result changed it. */
  record(ok: boolean): "success" | "failure" | undefined {
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#state !== "success" && this.#successes >= this.spec.successThreshold) {
        this.#state = "success";
        return "success";
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#state !== "failure" && this.#failures >= this.spec.failureThreshold) {
        this.#state = "failure";
        return "failure";
      }
    }
    return undefined;
  }

  get state() {
    return this.#state;
  }
}

export interface ProbeHooks {
  /** Aborted when the run ends: every probe stops. */
  signal: AbortSignal;
  /** The startup probe passed (at once without one). */
  started(): void;
  /** Readiness changed (true at once after start when there is no readiness probe). */
  ready(ready: boolean): void;
  /** One failed probe: for the Unhealthy event. */
  unhealthy(kind: ProbeKind, output: string): void;
  /** The run failed its liveness or startup probe: stop it within `graceMs` (undefined: the pod's). */
  kill(kind: ProbeKind, graceMs: number | undefined): void;
}

export interface ProbeTarget {
  spec: k8s.V1Container;
  driver: ContainerDriver;
}

const label = { startup: "Startup", liveness: "Liveness", readiness: "Readiness" } as const;

/** Runs the probe once within its timeout. */
export async function probeOnce(
  spec: ProbeSpec,
  target: ProbeTarget,
  signal: AbortSignal,
): Promise<HandlerResult> {
  const timeout = AbortSignal.timeout(spec.timeoutMs);
  const both = AbortSignal.any([signal, timeout]);
  const r = await runHandler(spec.probe, target, both);
  if (timeout.aborted && !signal.aborted) {
    return { ok: false, output: `probe timed out after ${spec.timeoutMs / 1000}s` };
  }
  return r;
}

/**
 * Probes `spec` every period until `until` returns true for a verdict (or the signal aborts);
 * resolves with that verdict.
 */
async function loop(
  spec: ProbeSpec,
  target: ProbeTarget,
  hooks: ProbeHooks,
  onVerdict: (v: "success" | "failure") => boolean,
): Promise<void> {
  const tracker = new ProbeTracker(spec);
  await sleepUnlessAborted(spec.initialDelayMs, hooks.signal);
  while (!hooks.signal.aborted) {
    const r = await probeOnce(spec, target, hooks.signal);
    if (hooks.signal.aborted) return;
    if (!r.ok) hooks.unhealthy(spec.kind, `${label[spec.kind]} probe failed: ${r.output}`);
    const verdict = tracker.record(r.ok);
    if (verdict && onVerdict(verdict)) return;
    await sleepUnlessAborted(spec.periodMs, hooks.signal);
  }
}

/** The container's probes for one run; resolves when the run's signal aborts. */
export async function runProbes(target: ProbeTarget, hooks: ProbeHooks): Promise<void> {
  const c = target.spec;
  if (c.startupProbe) {
    const spec = probeSpec("startup", c.startupProbe);
    let passed = false;
    await loop(spec, target, hooks, (v) => {
      if (v === "success") passed = true;
      else hooks.kill("startup", spec.killGraceMs);
      return true;
    });
    if (!passed) return;
  }
  hooks.started();
  const work: Promise<void>[] = [];
  if (c.readinessProbe) {
    work.push(loop(probeSpec("readiness", c.readinessProbe), target, hooks, (v) => {
      hooks.ready(v === "success");
      return false;
    }));
  } else hooks.ready(true);
  if (c.livenessProbe) {
    const spec = probeSpec("liveness", c.livenessProbe);
    work.push(loop(spec, target, hooks, (v) => {
      if (v === "failure") hooks.kill("liveness", spec.killGraceMs);
      return v === "failure";
    }));
  }
  await Promise.all(work);
}
