// The ContainerDriver contract: what the pod coordinator needs from one container of a pod,
// whatever runs it. The VM container (vm_driver.ts) and Docker containers implement it. A
// driver knows how to start one run of its container and what that run holds; restart
// policy, back-off, hooks, probes and status are the coordinator's, shared by all drivers.

import type { ContainerStats, ExecIO, LogOptions } from "./types.ts";

/** How one run of a container ended. */
export interface ContainerExit {
  exitCode: number;
  /** Kubernetes-style reason: Completed, Error, OOMKilled, ... */
  reason: string;
  message?: string;
  finishedAt: Date;
}

/** What a driver reports while it starts a run. */
export interface RunContext {
  /** Aborted when the pod is deleted or the agent stops: give up and hold nothing. */
  signal: AbortSignal;
  /** The container still waits: why (ContainerCreating, WaitingForVMSlot, ...). */
  waiting(reason: string, message?: string): void;
  event(type: "Normal" | "Warning", reason: string, message: string): void;
  /** The image is present: its digest reference (the container's imageID). */
  imagePresent(imageID: string): void;
  /** The container is up (state running, not yet started): its ID and start time. */
  running(containerID: string, startedAt: Date): void;
  /** The run that was there before the agent restarted is gone (counts as a restart). */
  previousRunLost(message: string): void;
}

/** A started run: it ends exactly once. */
export interface ContainerRun {
  /** Resolves once, when this run has ended on its own or through stop(). */
  readonly exited: Promise<ContainerExit>;
  /** True when the run was already there (adopted after an agent restart). */
  readonly adopted: boolean;
}

/** A start that failed before the container ran; `reason` becomes the waiting/terminated reason. */
export class StartError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = "StartError";
  }
}

/** Reasons under which a failed start waits and retries instead of counting as a crash. */
export const WAITING_START_ERRORS = new Set([
  "ErrImagePull",
  "ErrImageNeverPull",
  "InvalidImageName",
  "CreateContainerConfigError",
]);

export interface ContainerDriver {
  readonly name: string;
  /**
   * Makes one run of the container: image, resources, create (or adopt what is there), start.
   * Resolves once the container runs and can be reached (exec works); rejects with a
   * StartError otherwise. The coordinator calls release() after a failed start.
   */
  start(ctx: RunContext): Promise<ContainerRun>;
  /** Ends the current run: gracefully within `graceMs`, then forced. Its `exited` resolves. */
  stop(graceMs: number): Promise<void>;
  /**
   * Frees what the last run held (VM, slot, process). A driver may keep an ended container
   * for its logs until the next start or remove(). Idempotent; throws when something could
   * not be freed.
   */
  release(): Promise<void>;
  /** Removes everything the container left behind (the pod is deleted). Idempotent. */
  remove(): Promise<void>;
  /** Lets go of the run without stopping it (agent shutdown: the next agent adopts it). */
  detach(): void;

  /** Where the container's ports answer (the VM's IP; a Docker container's own address). */
  address(): Promise<string | undefined>;
  exec(command: string[], io: ExecIO): Promise<number>;
  attach(io: ExecIO): Promise<void>;
  logs(opts: LogOptions): Promise<ReadableStream<Uint8Array>>;
  /** Current usage, when the run is up and the driver can measure it. */
  stats(): Promise<Omit<ContainerStats, "name"> | undefined>;
}
