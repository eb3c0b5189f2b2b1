// Container lifecycle hooks: postStart after each start (the container counts as started once
// it succeeded; a failure kills the run) and preStop before a container is stopped, within the
// grace period. Both run through handlers.ts, so they work the same for the VM (exec over SSH)
// and for Docker containers (docker exec), and for exec, httpGet and sleep alike.

import type * as k8s from "@kubernetes/client-node";
import type { ContainerDriver } from "./driver.ts";
import { hasAction, runHandler } from "./handlers.ts";

/** Runs the container's postStart hook; rejects with the kubelet-style message on failure. */
export async function runPostStart(
  c: { spec: k8s.V1Container; driver: ContainerDriver },
  signal: AbortSignal,
): Promise<void> {
  const hook = c.spec.lifecycle?.postStart;
  if (!hasAction(hook)) return;
  const r = await runHandler(hook, c, signal);
  if (!r.ok) throw new Error(`postStart hook failed: ${r.output}`);
}

/**
 * Runs the container's preStop hook, giving up after `timeoutMs`; resolves with a failure
 * message (for a FailedPreStopHook event), or undefined when it ran or there is none.
 */
export async function runPreStop(
  c: { spec: k8s.V1Container; driver: ContainerDriver },
  timeoutMs: number,
): Promise<string | undefined> {
  const hook = c.spec.lifecycle?.preStop;
  if (!hasAction(hook)) return undefined;
  const signal = AbortSignal.timeout(Math.max(1, timeoutMs));
  const r = await runHandler(hook, c, signal);
  if (signal.aborted) return `preStop hook did not finish within ${Math.round(timeoutMs / 1000)}s`;
  return r.ok ? undefined : `preStop hook failed: ${r.output}`;
}
