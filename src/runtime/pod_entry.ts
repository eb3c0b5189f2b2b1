// One pod as the runtime keeps it: its object, and a ContainerEntry (state, driver, policy)
// for every init container and regular container. The first regular container is the VM;
// the others and all init containers run in Docker. Built once per pod from its spec.

import type * as k8s from "@kubernetes/client-node";
import type { DockerEngine, RegistryAuth } from "../containers/engine.ts";
import type { ObjectReader } from "../kube/objects.ts";
import type { Logger } from "../telemetry/log.ts";
import { newContainerState } from "./container_state.ts";
import { createDockerDriver } from "./docker_driver.ts";
import { type ContainerEntry, newContainerEntry } from "./lifecycle.ts";
import { containerRestartPolicy } from "./restart.ts";
import { createVmDriver, type VmDriver, type VmDriverDeps } from "./vm_driver.ts";
import { planVolumes } from "../volumes/plan.ts";
import { PodVolumes, vmVolumes, type VolumeTiming } from "../volumes/pod_volumes.ts";
import type { DownwardContext } from "../volumes/downward.ts";
import { resolveEnv } from "./env.ts";
import { API_SERVICE_NAME, type ApiProxy, apiServiceEnv } from "../network/api_proxy.ts";

/** What Docker containers of pods need (absent: pods with sidecars are refused). */
export interface DockerOptions {
  engine: DockerEngine;
  /** Docker network the pods' containers join. */
  network: string;
  /** Registry auth for a pod's image, from its pull secrets. */
  auth(pod: k8s.V1Pod, image: string): Promise<RegistryAuth | undefined>;
  /** Whether the engine answered lately (leftovers are not looked for without one). */
  reachable?: () => boolean;
}

export interface EntryDeps {
  vm: VmDriverDeps;
  docker?: DockerOptions;
  nodeName: string;
  hostIP?: string;
  nodeCpus: number;
  nodeMemoryBytes: number;
  reader?: ObjectReader;
  /** Per-pod directories: <podsDir>/<uid> (logs of previous runs, volumes). */
  podsDir: string;
  /** The API server for pods: a proxy on the host's addresses their guests and containers use. */
  apiProxy?: ApiProxy;
  log: Logger;
  backoff?: { initialMs: number; maxMs: number };
  /** How often config map, secret, downward API and token volumes are refreshed. */
  volumeTiming?: VolumeTiming;
}

export interface PodEntry {
  pod: k8s.V1Pod;
  acceptedAt: Date;
  abort: AbortController;
  vm: ContainerEntry & { driver: VmDriver };
  init: ContainerEntry[];
  /** spec.containers in order: the VM first. */
  containers: ContainerEntry[];
  /** The pod is set up (its directory exists): PodReadyToStartContainers. */
  sandboxReady: boolean;
  /** Every container's lifecycle; settles once none will run again or the pod is stopped. */
  done?: Promise<void>;
  /** activeDeadlineSeconds timer. */
  deadline?: ReturnType<typeof setTimeout>;
  /** Set when the runtime ended the pod itself (DeadlineExceeded). */
  failed?: { reason: string; message: string };
  /** The pod's volumes on this host. */
  volumes: PodVolumes;
  /** How often its volumes are refreshed (a minute unless a test shortens it). */
  volumeRefreshMs?: number;
}

export const podDirOf = (podsDir: string, pod: k8s.V1Pod) => `${podsDir}/${pod.metadata!.uid}`;

/** Resolves with the pod's IP (its VM's) once it has one. */
function waitPodIP(e: PodEntry, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (signal.aborted) return reject(signal.reason);
      const ip = e.vm.driver.podIP;
      if (ip) return resolve(ip);
      setTimeout(check, 200);
    };
    check();
  });
}

export function newPodEntry(pod: k8s.V1Pod, deps: EntryDeps): PodEntry {
  const e = {
    pod,
    acceptedAt: new Date(),
    abort: new AbortController(),
    sandboxReady: false,
    volumeRefreshMs: deps.volumeTiming?.refreshMs,
  } as PodEntry;
  const downward = (container?: k8s.V1Container): DownwardContext => ({
    pod: e.pod,
    container,
    podIP: e.vm?.driver.podIP,
    hostIP: deps.hostIP,
    nodeName: deps.nodeName,
    nodeCpus: deps.nodeCpus,
    nodeMemoryBytes: deps.nodeMemoryBytes,
  });
  e.volumes = new PodVolumes(planVolumes(pod).plan, {
    podDir: podDirOf(deps.podsDir, pod),
    reader: deps.reader,
    downward: () => downward(),
    log: deps.log.with({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` }),
    tokenRefreshFraction: deps.volumeTiming?.tokenRefreshFraction,
  });
  const dockerDriver = (list: "initContainers" | "containers", index: number) => {
    const spec = () => e.pod.spec![list]![index];
    const docker = deps.docker;
    if (!docker) throw new Error("Docker containers need a Docker engine (DOCKER_HOST)");
    return createDockerDriver(() => e.pod, spec, `spec.${list}[${index}] (${spec().name})`, {
      engine: docker.engine,
      network: docker.network,
      nodeName: deps.nodeName,
      log: deps.log,
      auth: docker.auth,
      env: {
        hostIP: deps.hostIP,
        nodeName: deps.nodeName,
        nodeCpus: deps.nodeCpus,
        nodeMemoryBytes: deps.nodeMemoryBytes,
        reader: deps.reader,
      },
      podIP: (signal) => waitPodIP(e, signal),
      logDir: `${podDirOf(deps.podsDir, pod)}/logs`,
      binds: () => e.volumes.binds(spec().name),
      apiAccess: async () => {
        const proxy = deps.apiProxy;
        const access = proxy && await docker.engine.hostAccess(docker.network);
        if (!proxy || !access) return undefined;
        const ok = await proxy.listen(access.listen).then(() => true, (err) => {
          deps.log.warn("no API server access for pods' containers", { error: String(err) });
          return false;
        });
        if (!ok) return undefined;
        return {
          env: apiServiceEnv(proxy.port, access.listen),
          extraHosts: [`${API_SERVICE_NAME}:${access.extraHost}`],
        };
      },
    });
  };
  const entry = (
    list: "initContainers" | "containers",
    index: number,
    driver: ContainerEntry["driver"],
  ) => {
    const spec = () => e.pod.spec![list]![index];
    const kind = list === "initContainers" ? "init" : "regular";
    return newContainerEntry({
      spec,
      kind,
      policy: containerRestartPolicy(pod, spec(), kind),
      state: newContainerState(spec(), kind === "init" ? "PodInitializing" : "ContainerCreating"),
      driver,
    }, deps.backoff);
  };

  const vmSpec = () => e.pod.spec!.containers[0];
  const vmHost = deps.vm.backend.hostAddress;
  const vmDriver = createVmDriver(() => e.pod, vmSpec, deps.vm, {
    logDir: `${podDirOf(deps.podsDir, pod)}/logs`,
    volumes: () => vmVolumes(e.volumes.mounts(vmSpec().name)),
    env: (podIP) =>
      resolveEnv({
        ...downward(vmSpec()),
        container: vmSpec(),
        podIP,
        field: `spec.containers[0] (${vmSpec().name})`,
        reader: deps.reader,
        base: deps.apiProxy && vmHost ? apiServiceEnv(deps.apiProxy.port, vmHost) : undefined,
      }),
    apiAccess: async () => {
      if (!deps.apiProxy || !vmHost) return undefined;
      // Without it the pod still runs; only in-cluster clients in its guest cannot connect.
      const ok = await deps.apiProxy.listen(vmHost).then(() => true, (err) => {
        deps.log.warn("no API server access for pods", { error: String(err) });
        return false;
      });
      return ok ? vmHost : undefined;
    },
  });
  e.vm = Object.assign(entry("containers", 0, vmDriver), { driver: vmDriver });
  e.init = (pod.spec?.initContainers ?? []).map((_, i) =>
    entry("initContainers", i, dockerDriver("initContainers", i))
  );
  e.containers = [
    e.vm,
    ...(pod.spec?.containers ?? []).slice(1).map((_, i) =>
      entry("containers", i + 1, dockerDriver("containers", i + 1))
    ),
  ];
  if (e.init.length) {
    for (const c of e.containers) c.state.waitingReason = "PodInitializing";
  }
  return e;
}
