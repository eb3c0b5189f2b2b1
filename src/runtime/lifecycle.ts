// One container's life inside a pod, the same for every driver: start a run, run the
// postStart hook and the probes, wait for the run to end, then restart it per policy after
// the crash-loop back-off. It is a single loop, so a container has at most one run and one restart in
// flight, and every run's resources are released exactly once, before the next starts.

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../telemetry/log.ts";
import { Backoff } from "../util/backoff.ts";
import {
  type ContainerState,
  countRestart,
  toRunning,
  toTerminated,
  toWaiting,
} from "./container_state.ts";
import {
  type ContainerDriver,
  type ContainerExit,
  type ContainerRun,
  type RunContext,
  WAITING_START_ERRORS,
} from "./driver.ts";
import { CrashLoop, goDuration, type RestartPolicy, shouldRestart } from "./restart.ts";
import { runProbes } from "./probes.ts";
import { sleepUnlessAborted as sleep } from "../util/sleep.ts";

/** A container of a pod as the coordinator keeps it. */
export interface ContainerEntry {
  readonly spec: () => k8s.V1Container;
  readonly kind: "init" | "regular";
  readonly policy: RestartPolicy;
  readonly state: ContainerState;
  readonly driver: ContainerDriver;
  /** The current run, while there is one. */
  run?: ContainerRun;
  readonly crash: CrashLoop;
  /** Set when the spec changed (a new image): the run is replaced at once, whatever the policy. */
  respec?: boolean;
}

/** What the lifecycle needs from the pod around it. */
export interface LifecycleHost {
  log: Logger;
  /** The container's state changed: write the pod's status. */
  notify(): void;
  event(c: ContainerEntry, type: "Normal" | "Warning", reason: string, message: string): void;
  /** An event about the pod as a whole (FailedMount). */
  podEvent(type: "Normal" | "Warning", reason: string, message: string): void;
  /** The container's postStart hook, after each start; rejects to fail the run. */
  postStart(c: ContainerEntry, signal: AbortSignal): Promise<void>;
  /** Called once per run when the container counts as started (hook and startup probe). */
  started?(c: ContainerEntry): void;
  /** The pod's termination grace period: for kills a probe asks for without its own. */
  graceMs(): number;
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

function aborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(undefined);
    signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
}

/** A container entry; `backoff` replaces the kubelet's crash-loop timing (tests). */
export function newContainerEntry(
  fields: Omit<ContainerEntry, "crash" | "run">,
  backoff?: { initialMs: number; maxMs: number },
): ContainerEntry {
  return { ...fields, crash: new CrashLoop(backoff) };
}

function runContext(c: ContainerEntry, host: LifecycleHost, signal: AbortSignal): RunContext {
  return {
    signal,
    waiting(reason, message) {
      if (c.state.stage === "running") return; // booting after start: the run is up already
      toWaiting(c.state, reason, message);
      host.notify();
    },
    event: (type, reason, message) => host.event(c, type, reason, message),
    imagePresent(imageID) {
      c.state.imageID = imageID;
    },
    running(containerID, startedAt) {
      toRunning(c.state, containerID, startedAt);
      host.notify();
    },
    previousRunLost(message) {
      c.state.last = {
        exitCode: 137,
        reason: "Error",
        message,
        finishedAt: new Date(),
        containerID: c.state.containerID,
      };
      countRestart(c.state);
    },
  };
}

/**
 * Starts one run, retrying (without counting restarts) while the failure is one a pod waits
 * out: image pulls back off as ImagePullBackOff. Returns the run, or the exit that a failed
 * start counts as; undefined when the signal aborted.
 */
async function startRun(
  c: ContainerEntry,
  host: LifecycleHost,
  signal: AbortSignal,
): Promise<ContainerRun | ContainerExit | undefined> {
  const pulls = new Backoff(c.crash.backoff);
  for (;;) {
    try {
      return await c.driver.start(runContext(c, host, signal));
    } catch (err) {
      if (signal.aborted) return undefined;
      const reason = (err as { reason?: string }).reason ?? "StartError";
      const message = errText(err);
      host.log.warn("container start failed", { container: c.state.name, reason, error: message });
      host.event(c, "Warning", "Failed", message);
      await c.driver.release().catch((e) =>
        host.log.error("container clean-up failed", { container: c.state.name, error: errText(e) })
      );
      if (!WAITING_START_ERRORS.has(reason)) {
        return { exitCode: 128, reason, message, finishedAt: new Date() };
      }
      toWaiting(c.state, reason, message);
      host.notify();
      if (reason === "InvalidImageName") {
        await aborted(signal); // the reference never becomes valid: only a new pod helps
        return undefined;
      }
      const delay = pulls.next();
      if (reason === "ErrImagePull") {
        const backoff = `Back-off pulling image "${c.state.image}": ${message}`;
        const when = `(retrying in ${goDuration(delay)})`;
        host.event(c, "Normal", "BackOff", `${backoff} ${when}`);
        toWaiting(c.state, "ImagePullBackOff", backoff);
        host.notify();
      }
      await sleep(delay, signal);
      if (signal.aborted) return undefined;
    }
  }
}

/**
 * Watches one started run: its postStart hook, then its probes, until it ends. Resolves with
 * how it ended, or undefined when the signal aborted first (the run is left to the caller).
 */
async function watchRun(
  c: ContainerEntry,
  host: LifecycleHost,
  run: ContainerRun,
  signal: AbortSignal,
): Promise<ContainerExit | undefined> {
  try {
    await host.postStart(c, signal);
  } catch (err) {
    if (signal.aborted) return undefined;
    await c.driver.stop(0).catch(() => {});
    return { exitCode: 137, reason: "Error", message: errText(err), finishedAt: new Date() };
  }
  const runEnded = new AbortController();
  let killedBy: string | undefined;
  const probing = runProbes({ spec: c.spec(), driver: c.driver }, {
    signal: AbortSignal.any([signal, runEnded.signal]),
    started() {
      c.state.started = true;
      host.started?.(c);
      host.notify();
    },
    ready(ready) {
      if (c.state.ready === ready) return;
      c.state.ready = ready;
      host.notify();
    },
    unhealthy: (_kind, output) => host.event(c, "Warning", "Unhealthy", output),
    kill(kind, graceMs) {
      killedBy = kind;
      const name = c.state.name;
      host.event(
        c,
        "Normal",
        "Killing",
        `Container ${name} failed ${kind} probe, will be restarted`,
      );
      c.driver.stop(graceMs ?? host.graceMs()).catch((err) =>
        host.log.warn("stopping a container that failed its probe", { error: errText(err) })
      );
    },
  });
  const ended = await Promise.race([run.exited, aborted(signal)]);
  runEnded.abort();
  await probing;
  if (!ended) return undefined;
  return killedBy ? { ...ended, message: `killed: failed ${killedBy} probe` } : ended;
}

/**
 * Runs the container until its policy lets it end (resolves with its last exit) or the
 * signal aborts (resolves undefined and leaves the current run to the caller: deletion stops
 * and releases it, an agent shutdown leaves it for the next agent to adopt).
 */
export async function runLifecycle(
  c: ContainerEntry,
  host: LifecycleHost,
  signal: AbortSignal,
): Promise<ContainerExit | undefined> {
  for (;;) {
    const started = await startRun(c, host, signal);
    if (!started) return undefined;
    let exit: ContainerExit;
    let ranMs = 0;
    if ("exited" in started) {
      c.run = started;
      const ended = await watchRun(c, host, started, signal);
      if (!ended) return undefined;
      exit = ended;
      c.run = undefined;
      ranMs = exit.finishedAt.getTime() - (c.state.startedAt?.getTime() ?? Date.now());
      await release(c, host);
      if (signal.aborted) return undefined;
      host.event(
        c,
        exit.exitCode ? "Warning" : "Normal",
        exit.exitCode ? "Failed" : "Completed",
        exit.message ?? exit.reason,
      );
    } else exit = started;
    toTerminated(c.state, exit);
    host.notify();
    if (!(await restartAfter(c, host, exit, ranMs, signal))) return exit;
  }
}

async function release(c: ContainerEntry, host: LifecycleHost): Promise<void> {
  await c.driver.release().catch((err) =>
    host.log.error("container clean-up failed", { container: c.state.name, error: errText(err) })
  );
}

/** Waits out the crash-loop back-off when the policy restarts; false when it does not. */
async function restartAfter(
  c: ContainerEntry,
  host: LifecycleHost,
  exit: ContainerExit,
  ranMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  if (c.respec) {
    c.respec = false;
    countRestart(c.state);
    toWaiting(c.state, "ContainerCreating");
    host.notify();
    return true;
  }
  if (!shouldRestart(c.policy, exit.exitCode)) return false;
  const delay = c.crash.next(ranMs);
  const message = `back-off ${goDuration(delay)} restarting failed container=${c.state.name}`;
  host.event(c, "Warning", "BackOff", `Back-off restarting failed container ${c.state.name}`);
  toWaiting(c.state, "CrashLoopBackOff", message);
  host.notify();
  await sleep(delay, signal);
  if (signal.aborted) return false;
  countRestart(c.state);
  toWaiting(c.state, "ContainerCreating");
  host.notify();
  return true;
}
