// Samples the host's own CPU and memory use for the node part of /stats/summary and
// /metrics/resource. CPU time comes from node:os cpus() (the same on macOS and Linux);
// the rate is the difference to the previous sample.

import os from "node:os";
import type { NodeSample } from "./stats_format.ts";

export type NodeSampler = () => NodeSample;

/** A rate needs samples at least this far apart; closer calls reuse the last rate. */
const MIN_RATE_INTERVAL_MS = 1_000;

export function createNodeSampler(): NodeSampler {
  let previous: { at: number; cpuNs: number } | undefined;
  let rate: number | undefined;
  return () => {
    const now = Date.now();
    const cpuNs = os.cpus().reduce(
      (sum, c) => sum + (c.times.user + c.times.nice + c.times.sys + c.times.irq) * 1e6,
      0,
    );
    if (previous === undefined) {
      previous = { at: now, cpuNs };
    } else if (now - previous.at >= MIN_RATE_INTERVAL_MS) {
      rate = Math.max(
        0,
        Math.round(((cpuNs - previous.cpuNs) / ((now - previous.at) * 1e6)) * 1e9),
      );
      previous = { at: now, cpuNs };
    }
    return {
      time: new Date(now),
      startTime: new Date(now - os.uptime() * 1000),
      cpuUsageCoreNanoSeconds: Math.round(cpuNs),
      cpuUsageNanoCores: rate,
      memoryTotalBytes: os.totalmem(),
      memoryAvailableBytes: os.freemem(),
    };
  };
}
