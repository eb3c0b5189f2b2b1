// The PodRuntime contract: the only thing the pod controller and the kubelet API talk to.
// A runtime turns one pod into a VM plus sidecars and reports what is happening to it.

import type { VolumeStats } from "../volumes/usage.ts";
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
  /** Why VMs cannot get on the network now (the node's NetworkUnavailable); else unset. */
  networkProblem?: string;
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

/** A terminal size, as kubectl sends it on the resize channel. */
export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * Streams of one exec or attach session, as the kubelet API hands them over. Only the
 * streams the caller asked for are present. Backpressure is real: a write to stdout resolves
 * when the caller can take more, so a runtime that awaits its writes never buffers without
 * bound. The runtime may close stdout/stderr when the command's output ends; the server
 * closes whatever is still open once the operation settles. `stdin` ends when the caller
 * closes its input. With `tty`, stderr is absent (merged into the terminal) and `resize`
 * carries the caller's terminal size, first value usually at once.
 */
export interface ExecIO {
  stdin?: ReadableStream<Uint8Array>;
  stdout?: WritableStream<Uint8Array>;
  stderr?: WritableStream<Uint8Array>;
  tty: boolean;
  resize?: ReadableStream<TerminalSize>;
  /** Aborted when the caller goes away or the session times out: stop and clean up. */
  signal?: AbortSignal;
}

/**
 * One forwarded connection: bytes from the caller on `readable` (ends when the caller
 * half-closes), bytes to the caller through `writable`. The runtime connects to the port
 * inside the pod and pipes both ways; it resolves when both directions are done, and rejects
 * (e.g. connection refused) to have the error shown to the caller.
 */
export interface PortStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  signal?: AbortSignal;
}

/** Resource usage of one container; undefined fields are not known to the runtime. */
export interface ContainerStats {
  name: string;
  startTime?: Date;
  /** Current CPU use in billionths of a core. */
  cpuUsageNanoCores?: number;
  /** Cumulative CPU time in core-nanoseconds. */
  cpuUsageCoreNanoSeconds?: number;
  memoryWorkingSetBytes?: number;
  memoryUsageBytes?: number;
  memoryRssBytes?: number;
}

/** Resource usage of one pod, for /stats/summary and /metrics/resource. */
export interface PodStats {
  namespace: string;
  name: string;
  uid: string;
  startTime?: Date;
  containers: ContainerStats[];
  /** Usage of the pod's emptyDir volumes. */
  volumes?: VolumeStats[];
  /** When these figures were taken. */
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
   * Cancels a creation still in progress. Idempotent. For a pod it does not track, removes
   * what an earlier agent left for the pod's UID. Resolves with the pod's final status
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

  /**
   * The container's log as bytes (lines, each with an RFC 3339 timestamp and a space in front
   * when `opts.timestamps`), honouring tailLines, sinceSeconds/sinceTime, limitBytes and
   * previous. With `follow` the stream stays open for new lines until `opts.signal` aborts
   * or the container ends. Rejects with NotFoundError for an unknown pod or container.
   */
  containerLogs(
    namespace: string,
    pod: string,
    container: string,
    opts: LogOptions,
  ): Promise<ReadableStream<Uint8Array>>;
  /**
   * Runs `command` in the container with `io`; resolves with its exit code (127 when the
   * command does not exist, as a shell reports it). Rejects with NotFoundError for an unknown
   * pod or container, and with other errors when the command could not be run at all.
   */
  exec(
    namespace: string,
    pod: string,
    container: string,
    command: string[],
    io: ExecIO,
  ): Promise<number>;
  /** Connects `io` to the container's main process (its console); resolves when detached. */
  attach(namespace: string, pod: string, container: string, io: ExecIO): Promise<void>;
  /** Carries one connection to `port` inside the pod; see PortStream. */
  portForward(namespace: string, pod: string, port: number, stream: PortStream): Promise<void>;
  /** Usage of every pod the runtime runs. */
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
