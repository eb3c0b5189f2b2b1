// The order a pod's containers run and stop in. Start: the pod's directory, then init
// containers one by one (each to completion; native sidecars, restartPolicy Always, only
// until started, and they keep running), then the VM and the other containers together.
// Stop: preStop hooks and stops of the regular containers within the grace period, then the
// native sidecars in reverse order, as the kubelet ends them.

import { overLimitMessage } from "../volumes/usage.ts";
import type { LifecycleHost } from "./lifecycle.ts";
import { type ContainerEntry, runLifecycle } from "./lifecycle.ts";
import { toTerminated } from "./container_state.ts";
import { runPreStop } from "./hooks.ts";
import type { PodEntry } from "./pod_entry.ts";
import { Backoff } from "../util/backoff.ts";
import { sleepUnlessAborted } from "../util/sleep.ts";

const isSidecar = (c: ContainerEntry) => c.kind === "init" && c.policy === "Always";

/** Resolves once `c` counts as started, or its lifecycle ended, or the signal aborted. */
function startedOrEnded(c: ContainerEntry, loop: Promise<unknown>, signal: AbortSignal) {
  return new Promise<void>((resolve) => {
    const check = () => {
      if (c.state.started || signal.aborted) return resolve();
      setTimeout(check, 100);
    };
    loop.finally(resolve);
    check();
  });
}

/** How often config maps, secrets, the downward API and tokens are read again. */
export const VOLUME_REFRESH_MS = 60_000;

/**
 * Sets the pod's volumes up, retrying with back-off while one cannot be (a missing config
 * map, a hostPath type mismatch): every container waits, with a FailedMount event each time.
 * Resolves false when the signal aborted first.
 */
async function setUpVolumes(e: PodEntry, host: LifecycleHost, signal: AbortSignal) {
  const retry = new Backoff({ initialMs: 1_000, maxMs: 30_000 });
  for (;;) {
    try {
      await e.volumes.setUp();
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      const message = err instanceof Error ? err.message : String(err);
      host.podEvent("Warning", "FailedMount", message);
      for (const c of [...e.init, ...e.containers]) {
        if (c.state.stage === "waiting") c.state.waitingMessage = message;
      }
      host.notify();
      await sleepUnlessAborted(retry.next(), signal);
      if (signal.aborted) return false;
    }
  }
}

/** Keeps config map, secret, downward API and token volumes current while the pod runs. */
async function refreshVolumes(e: PodEntry, host: LifecycleHost, signal: AbortSignal) {
  while (!signal.aborted) {
    const tokenAt = e.volumes.nextTokenRefreshAt();
    const every = e.volumeRefreshMs ?? VOLUME_REFRESH_MS;
    const wait = Math.min(every, tokenAt ? Math.max(1_000, tokenAt - Date.now()) : Infinity);
    await sleepUnlessAborted(wait, signal);
    if (signal.aborted) return;
    for (const problem of await e.volumes.refresh()) {
      host.podEvent("Warning", "FailedMount", problem);
    }
    // The kubelet evicts a pod over an emptyDir's sizeLimit; this agent says so and keeps it.
    for (const s of await e.volumes.stats().catch(() => [])) {
      const over = overLimitMessage(s);
      if (over) host.podEvent("Warning", "VolumeOverLimit", over);
    }
  }
}

export async function runPod(e: PodEntry, host: LifecycleHost, podDir: string): Promise<void> {
  const signal = e.abort.signal;
  await Deno.mkdir(`${podDir}/logs`, { recursive: true });
  if (!(await setUpVolumes(e, host, signal))) return;
  e.sandboxReady = true;
  host.notify();
  const done = new AbortController(); // no refreshes once every container has ended
  const refreshing = refreshVolumes(e, host, AbortSignal.any([signal, done.signal]));
  try {
    await runContainers(e, host);
  } finally {
    done.abort();
    await refreshing;
  }
}

async function runContainers(e: PodEntry, host: LifecycleHost): Promise<void> {
  const signal = e.abort.signal;
  // Native sidecars outlive the init phase; they are ended (without restarts) once the
  // regular containers have ended, or when an init container failed for good.
  const endSidecars = new AbortController();
  const sidecarSignal = AbortSignal.any([signal, endSidecars.signal]);
  const sidecars: Promise<unknown>[] = [];
  const stopSidecars = async () => {
    endSidecars.abort();
    await Promise.all(sidecars);
    await stopContainers(e.init.filter(isSidecar).reverse(), 2_000, host);
  };
  for (const c of e.init) {
    if (signal.aborted) return;
    if (isSidecar(c)) {
      const loop = runLifecycle(c, host, sidecarSignal);
      sidecars.push(loop);
      await startedOrEnded(c, loop, signal);
      continue;
    }
    const exit = await runLifecycle(c, host, signal);
    if (!exit || exit.exitCode !== 0) {
      // Aborted, or failed for good (restartPolicy Never): the pod does not go on.
      if (exit) await stopSidecars();
      return;
    }
  }
  if (signal.aborted) return;
  for (const c of e.containers) {
    if (c.state.waitingReason === "PodInitializing") c.state.waitingReason = "ContainerCreating";
  }
  host.notify();
  await Promise.all(e.containers.map((c) => runLifecycle(c, host, signal)));
  // Every regular container has ended for good: native sidecars end with them.
  if (!signal.aborted) await stopSidecars();
  await Promise.all(sidecars);
}

/** preStop, then stop, of each container with a run, one after the other within `graceMs`. */
async function stopContainers(
  list: ContainerEntry[],
  graceMs: number,
  host: LifecycleHost,
  parallel = false,
): Promise<void> {
  const deadline = Date.now() + graceMs;
  const stopOne = async (c: ContainerEntry) => {
    const run = c.run;
    if (!run) return;
    const failed = await runPreStop({ spec: c.spec(), driver: c.driver }, deadline - Date.now());
    if (failed) host.event(c, "Warning", "FailedPreStopHook", failed);
    await c.driver.stop(Math.max(0, deadline - Date.now()));
    const exit = await Promise.race([
      run.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000)),
    ]);
    c.run = undefined;
    toTerminated(
      c.state,
      exit ?? {
        exitCode: 137,
        reason: "Error",
        message: "stopped with the pod",
        finishedAt: new Date(),
      },
    );
  };
  if (parallel) await Promise.all(list.map(stopOne));
  else for (const c of list) await stopOne(c);
}

/** Stops the whole pod within the grace period: regular containers, then native sidecars. */
export async function stopPod(e: PodEntry, graceMs: number, host: LifecycleHost): Promise<void> {
  const deadline = Date.now() + graceMs;
  await stopContainers(e.containers, graceMs, host, true);
  // Sidecars get what is left of the grace period, but at least two seconds.
  const rest = Math.max(2_000, deadline - Date.now());
  await stopContainers(e.init.filter((c) => c.run).reverse(), rest, host);
}
