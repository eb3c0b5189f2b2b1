// Chooses the PodRuntime for this host from --backend: the VM runtime over the vz or qemu
// backend. When the backend cannot start here, the agent runs the unavailable runtime, which
// says why on the node and on every pod.

import type { Config } from "../config/types.ts";
import { type EventRecorder, podRef } from "../kube/events.ts";
import type { ObjectReader } from "../kube/objects.ts";
import { podPullCredentials } from "./pull_credentials.ts";
import type { HostFacts } from "../host/facts.ts";
import type { Logger } from "../telemetry/log.ts";
import { probeDocker } from "../containers/docker.ts";
import type { AdmissionContext } from "./admission.ts";
import type { PodRuntime, VmLimits } from "./types.ts";
import { createUnavailableRuntime } from "./unavailable.ts";
import { createPodRuntime } from "./pod_runtime.ts";
import { agentImages, type ImageGcTiming } from "./agent_images.ts";
import type { VmBackend } from "../vm/types.ts";
import type { VolumeTiming } from "../volumes/pod_volumes.ts";
import { type ApiProxy, createApiProxy } from "../network/api_proxy.ts";
import { createQemuBackend } from "../vm/qemu/backend.ts";
import { DockerEngine } from "../containers/engine.ts";
import { dockerAuth } from "./pull_credentials.ts";
import type * as k8s from "@kubernetes/client-node";

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
  /** Crash-loop and image-pull back-off; the kubelet's 10 s to 5 min unless a test sets it. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** The API server's URL (the kubeconfig's): pods reach it through the agent's proxy. */
  apiServer?: string;
  /** How often volumes from the API and their tokens are refreshed (tests shorten it). */
  volumeTiming?: VolumeTiming;
}

export async function selectRuntime(config: Config, ctx: RuntimeContext): Promise<PodRuntime> {
  const docker = dockerWatcher(config.dockerHost, ctx.log);
  await docker.start();
  const admission = (limits: VmLimits) => (): AdmissionContext => ({
    limits,
    dockerReachable: docker.reachable(),
    dockerHost: config.dockerHost,
  });
  const credentials = ctx.reader && (async (pod: k8s.V1Pod) => {
    const { credentials, problems } = await podPullCredentials(pod, ctx.reader!);
    for (const p of problems) {
      ctx.events.record(podRef(pod), "Warning", "FailedToRetrieveImagePullSecret", p);
    }
    return credentials;
  });
  const images = agentImages(config, ctx.log, credentials);

  let runtime: PodRuntime;
  const apiProxy = ctx.apiServer ? proxyTo(ctx.apiServer, config.apiProxyPort, ctx.log) : undefined;
  try {
    const { backend, limits } = await openBackend(config, ctx);
    runtime = createPodRuntime({
      backend,
      images: images.source,
      events: ctx.events,
      log: ctx.log,
      ssh: config.ssh,
      sshReadinessTimeoutMs: config.sshReadinessTimeoutSeconds * 1000,
      stateDir: `${config.cacheDir}/vms`,
      podsDir: `${config.cacheDir}/pods`,
      hostIP: config.podIp ?? ctx.host.primaryIPv4,
      nodeName: config.nodeName,
      nodeCpus: ctx.host.cpus,
      nodeMemoryBytes: ctx.host.memoryBytes,
      reader: ctx.reader,
      docker: {
        engine: new DockerEngine(config.dockerHost),
        network: config.dockerNetwork,
        reachable: docker.reachable,
        auth: (pod, image) => dockerAuth(image, credentials && (() => credentials(pod))),
      },
      admission: admission(limits),
      backoff: ctx.restartBackoff,
      volumeTiming: ctx.volumeTiming,
      apiProxy,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    ctx.log.error(`${config.backend} backend unavailable`, { error: why });
    runtime = createUnavailableRuntime({
      message: `the ${config.backend} backend cannot start: ${why}`,
      maxPods: config.maxVms,
      admission: admission(hostVmLimits(ctx.host)),
      events: ctx.events,
    });
  }
  // Also when the backend cannot start: leases of VMs that outlived the agent stay honoured.
  const stopGc = images.startGc(ctx.imageGc);
  const close = runtime.close;
  runtime.close = async () => {
    docker.stop();
    stopGc();
    apiProxy?.close();
    await close();
  };
  return runtime;
}

/** The VM backend of --backend, with the bounds it puts on a VM's CPUs and memory. */
async function openBackend(
  config: Config,
  ctx: RuntimeContext,
): Promise<{ backend: VmBackend; limits: VmLimits }> {
  if (config.backend === "vz") {
    // Loaded only here: nothing of the vz backend (or its FFI) is in a Linux agent's memory.
    const { openVzBackend } = await import("../vm/vz/agent.ts");
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
    return { backend, limits: backend.limits };
  }
  const backend = await createQemuBackend({
    stateDir: `${config.cacheDir}/vms`,
    bridge: config.qemu.bridge,
    subnet: config.qemu.subnet,
    nat: config.qemu.nat,
    maxRunning: config.maxVms,
    log: ctx.log,
  });
  return { backend, limits: qemuVmLimits(ctx.host) };
}

/** The API server proxy for pods, to the kubeconfig's server (port 443 when it names none). */
function proxyTo(server: string, port: number, log: Logger): ApiProxy | undefined {
  const url = URL.parse(server);
  if (!url) return undefined;
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  return createApiProxy({ hostname, port: Number(url.port || 443) }, port, log);
}
