// Chooses the PodRuntime for this host from --backend: the VM runtime over the vz or qemu
// backend. When the backend cannot start here, the agent runs the unavailable runtime, which
// says why on the node and on every pod.

import type { Config } from "../config/types.ts";
import { type EventRecorder, podRef } from "../kube/events.ts";
import type { ObjectReader } from "../kube/objects.ts";
import { podPullCredentials } from "./pull_credentials.ts";
import type { HostFacts } from "../node/host.ts";
import type { Logger } from "../telemetry/log.ts";
import { probeDocker } from "../containers/docker.ts";
import type { AdmissionContext } from "./admission.ts";
import type { PodRuntime, VmLimits } from "./types.ts";
import { createUnavailableRuntime } from "./unavailable.ts";
import { createVmRuntime } from "./vm_runtime.ts";
import { type AgentImages, agentImages, type ImageGcTiming } from "./agent_images.ts";
import { createQemuBackend } from "../vm/qemu/backend.ts";
import { openVzBackend } from "../vm/vz/agent.ts";

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

/** The qemu backend's bounds: tiny Linux guests are fine; at most the host's CPUs and memory. */
export function qemuVmLimits(host: HostFacts): VmLimits {
  return {
    minCpus: 1,
    maxCpus: host.cpus,
    minMemoryBytes: 128 * 2 ** 20,
    maxMemoryBytes: host.memoryBytes,
  };
}

export interface RuntimeContext {
  events: EventRecorder;
  host: HostFacts;
  log: Logger;
  reader?: ObjectReader;
  /** When image garbage collection runs (tests shorten it); DEFAULT_IMAGE_GC_TIMING if unset. */
  imageGc?: ImageGcTiming;
}

export async function selectRuntime(config: Config, ctx: RuntimeContext): Promise<PodRuntime> {
  const docker = dockerWatcher(config.dockerHost, ctx.log);
  await docker.start();
  const admission = (limits: VmLimits) => (): AdmissionContext => ({
    limits,
    dockerReachable: docker.reachable(),
    dockerHost: config.dockerHost,
  });
  const unavailable = (message: string) =>
    createUnavailableRuntime({
      message,
      maxPods: config.maxVms,
      admission: admission(hostVmLimits(ctx.host)),
      events: ctx.events,
    });

  let runtime: PodRuntime;
  let images: AgentImages | undefined;
  if (config.backend === "vz") {
    // Mirrors the qemu branch below (kept apart while the runtime is being reshaped).
    images = agentImages(
      config,
      ctx.log,
      ctx.reader && (async (pod) => {
        const { credentials, problems } = await podPullCredentials(pod, ctx.reader!);
        for (const p of problems) {
          ctx.events.record(podRef(pod), "Warning", "FailedToRetrieveImagePullSecret", p);
        }
        return credentials;
      }),
    );
    try {
      const backend = await openVzBackend({
        stateDir: `${config.cacheDir}/vms`,
        maxVms: config.maxVms,
        bridgeInterface: config.bridgeInterface,
        machineId: config.vz.machineId,
        allowImageCopy: config.allowImageCopy,
        hostCpus: ctx.host.cpus,
        hostMemoryBytes: ctx.host.memoryBytes,
        log: ctx.log,
      });
      runtime = createVmRuntime({
        backend,
        images: images.source,
        events: ctx.events,
        log: ctx.log,
        ssh: config.ssh,
        sshReadinessTimeoutMs: config.sshReadinessTimeoutSeconds * 1000,
        stateDir: `${config.cacheDir}/vms`,
        hostIP: config.podIp ?? ctx.host.primaryIPv4,
        admission: admission(backend.limits),
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      ctx.log.error("vz backend unavailable", { error: why });
      runtime = unavailable(`the vz backend cannot start: ${why}`);
    }
  } else {
    images = agentImages(
      config,
      ctx.log,
      ctx.reader && (async (pod) => {
        const { credentials, problems } = await podPullCredentials(pod, ctx.reader!);
        for (const p of problems) {
          ctx.events.record(podRef(pod), "Warning", "FailedToRetrieveImagePullSecret", p);
        }
        return credentials;
      }),
    );
    try {
      const backend = await createQemuBackend({
        stateDir: `${config.cacheDir}/vms`,
        bridge: config.qemu.bridge,
        subnet: config.qemu.subnet,
        nat: config.qemu.nat,
        maxRunning: config.maxVms,
        log: ctx.log,
      });
      runtime = createVmRuntime({
        backend,
        images: images.source,
        events: ctx.events,
        log: ctx.log,
        ssh: config.ssh,
        sshReadinessTimeoutMs: config.sshReadinessTimeoutSeconds * 1000,
        stateDir: `${config.cacheDir}/vms`,
        hostIP: config.podIp ?? ctx.host.primaryIPv4,
        admission: admission(qemuVmLimits(ctx.host)),
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      ctx.log.error("qemu backend unavailable", { error: why });
      runtime = unavailable(`the qemu backend cannot start: ${why}`);
    }
  }
  // Also when the qemu backend cannot start: leases of VMs that outlived the agent stay honoured.
  const stopGc = images ? images.startGc(ctx.imageGc) : () => {};
  const close = runtime.close;
  runtime.close = async () => {
    docker.stop();
    stopGc();
    await close();
  };
  return runtime;
}
