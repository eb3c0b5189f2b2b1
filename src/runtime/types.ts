// The PodRuntime contract: the only thing the pod controller and the kubelet API talk to.
// A runtime turns one pod into a VM plus sidecars and reports what is happening to it.

import type * as k8s from "@kubernetes/client-node";

/** What the node controller reports about the runtime. */
export interface RuntimeStatus {
  /** True when pods can run; false makes pods wait with `message` as the reason. */
  ready: boolean;
  /** Short CamelCase reason, e.g. "BackendReady", "NoVmBackend". */
  reason: string;
  message: string;
  /** How many pods may run at once on this node (VM slots). */
  maxPods: number;
  /** e.g. "qemu://8.2.1" or "vz://macOS 15.1", reported as the container runtime version. */
  version: string;
}

/** Bounds the backend imposes on the VM container's resource requests. */
export interface VmLimits {
  minCpus: number;
  maxCpus: number;
  minMemoryBytes: number;
  maxMemoryBytes: number;
}

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  sinceSeconds?: number;
  sinceTime?: Date;
  limitBytes?: number;
  previous?: boolean;
  signal?: AbortSignal;
}

/** Streams of one exec or attach session, as the kubelet API hands them over. */
export interface ExecIO {
  stdin?: ReadableStream<Uint8Array>;
  stdout?: WritableStream<Uint8Array>;
  stderr?: WritableStream<Uint8Array>;
  tty: boolean;
  resize?: ReadableStream<{ width: number; height: number }>;
  signal?: AbortSignal;
}

export interface PortStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  signal?: AbortSignal;
}

/** Resource usage of one pod, for /stats/summary and /metrics/resource. */
export interface PodStats {
  namespace: string;
  name: string;
  uid: string;
  containers: {
    name: string;
    cpuUsageNanoCores?: number;
    cpuUsageCoreNanoSeconds?: number;
    memoryWorkingSetBytes?: number;
  }[];
  time: Date;
}

export type StatusListener = (namespace: string, name: string) => void;

export interface PodRuntime {
  status(): RuntimeStatus;
  /** Problems that make this pod impossible to run here; empty when it can run. */
  admit(pod: k8s.V1Pod): string[];
  /**
   * Starts running the pod and resolves once the runtime has taken it on (not when it is
   * Running). Called for every non-terminal pod the runtime does not track, including pods
   * that ran before an agent restart: the runtime adopts what it finds.
   */
  createPod(pod: k8s.V1Pod): Promise<void>;
  updatePod(pod: k8s.V1Pod): Promise<void>;
  /**
   * Stops the pod within `gracePeriodSeconds` (preStop hooks, graceful shutdown, then
   * force) and releases everything it held. Resolves when nothing of the pod remains.
   * Cancels a creation still in progress. Idempotent. Resolves with the pod's final status
   * (containers terminated) when the runtime tracked it.
   */
  deletePod(pod: k8s.V1Pod, gracePeriodSeconds: number): Promise<k8s.V1PodStatus | undefined>;
  /** Whether the runtime tracks this pod (by namespace/name and UID). */
  hasPod(namespace: string, name: string, uid?: string): boolean;
  /** The pod's status as the runtime sees it; undefined when it does not track the pod. */
  podStatus(pod: k8s.V1Pod): k8s.V1PodStatus | undefined;
  /** Called whenever a tracked pod's status may have changed. */
  onStatusChange(fn: StatusListener): void;
  /** Pods the runtime is running now (for /runningpods). */
  runningPods(): k8s.V1Pod[];

  containerLogs(
    namespace: string,
    pod: string,
    container: string,
    opts: LogOptions,
  ): Promise<ReadableStream<Uint8Array>>;
  /** Runs `command` in the container; resolves with its exit code. */
  exec(
    namespace: string,
    pod: string,
    container: string,
    command: string[],
    io: ExecIO,
  ): Promise<number>;
  attach(namespace: string, pod: string, container: string, io: ExecIO): Promise<void>;
  portForward(namespace: string, pod: string, port: number, stream: PortStream): Promise<void>;
  stats(): Promise<PodStats[]>;
  /** Stops background work; leaves VMs running for the next agent to adopt. */
  close(): Promise<void>;
}

/** Raised by kubelet-API operations for a pod or container the runtime does not have. */
export class NotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
    this.name = "NotFoundError";
  }
}
