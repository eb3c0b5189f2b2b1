// What every kubelet API route handler gets: the node's name, the runtime, the pods bound
// here, logging, metrics, timeouts, and a signal that fires when the server stops.

import type { PodRuntime } from "../runtime/types.ts";
import type { Logger } from "../telemetry/log.ts";
import type { ServerMetrics } from "./metrics.ts";
import type { NodeSampler } from "./node_stats.ts";
import type { PodDirectory } from "./pod_lookup.ts";

export interface StreamingTimeouts {
  /** A streaming session with no traffic for this long is closed (kubelet default 4 h). */
  idleTimeoutMs: number;
  /** Callers must open every stream a session needs within this (kubelet default 30 s). */
  creationTimeoutMs: number;
}

export interface ServerContext {
  nodeName: string;
  runtime: PodRuntime;
  pods: PodDirectory;
  log: Logger;
  metrics: ServerMetrics;
  nodeSample: NodeSampler;
  timeouts: StreamingTimeouts;
  /** Aborted when the server stops: long-lived handlers end. */
  closing: AbortSignal;
}
