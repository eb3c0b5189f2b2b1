// Chooses the PodRuntime for this host from --backend. Until a VM backend is built for the
// host, the agent runs the unavailable runtime, which says so on the node and on every pod.

import type { Config } from "../config/types.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { HostFacts } from "../node/host.ts";
import type { Logger } from "../telemetry/log.ts";
import { probeDocker } from "../containers/docker.ts";
import type { AdmissionContext } from "./admission.ts";
import type { PodRuntime, VmLimits } from "./types.ts";
import { createUnavailableRuntime } from "./unavailable.ts";

/** VM bounds when no backend states its own: whole host CPUs, 1 GiB up to host memory. */
export function hostVmLimits(host: HostFacts): VmLimits {
  return {
    minCpus: 1,
    maxCpus: host.cpus,
    minMemoryBytes: 2 ** 30,
    maxMemoryBytes: host.memoryBytes,
  };
}

/** Keeps a recent answer to "does Docker respond?" without probing on every admission. */
export function dockerWatcher(dockerHost: string, log: Logger, intervalMs = 30_000) {
  let reachable = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const check = async () => {
    const probe = await probeDocker(dockerHost);
    if (probe.reachable !== reachable) {
      log.info(probe.reachable ? "docker reachable" : "docker not reachable", {
        dockerHost,
        version: probe.version,
        error: probe.error,
      });
    }
    reachable = probe.reachable;
    if (!stopped) timer = setTimeout(check, intervalMs);
  };
  return {
    start: check,
    reachable: () => reachable,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

export async function selectRuntime(
  config: Config,
  ctx: { events: EventRecorder; host: HostFacts; log: Logger },
): Promise<PodRuntime> {
  const docker = dockerWatcher(config.dockerHost, ctx.log);
  await docker.start();
  const admission = (): AdmissionContext => ({
    limits: hostVmLimits(ctx.host),
    dockerReachable: docker.reachable(),
    dockerHost: config.dockerHost,
  });
  const message = config.backend === "vz"
    ? "the vz (Virtualization.framework) backend is not part of this build yet"
    : "the qemu backend is not part of this build yet";
  const runtime = createUnavailableRuntime({
    message,
    maxPods: 2,
    admission,
    events: ctx.events,
  });
  const close = runtime.close;
  runtime.close = async () => {
    docker.stop();
    await close();
  };
  return runtime;
}
