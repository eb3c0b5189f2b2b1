// The two resource-usage formats of the kubelet API, as pure functions of a node sample and
// the runtime's per-pod stats: /stats/summary (the kubelet's statsapi.Summary JSON) and
// /metrics/resource (the Prometheus text metrics-server scrapes for `kubectl top`).

import type { PodStats } from "../runtime/types.ts";

export interface NodeSample {
  time: Date;
  startTime: Date;
  cpuUsageCoreNanoSeconds: number;
  /** Undefined until two samples exist. */
  cpuUsageNanoCores?: number;
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
}

interface CpuStats {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds?: number;
}

interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes?: number;
  workingSetBytes?: number;
  rssBytes?: number;
}

export interface Summary {
  node: {
    nodeName: string;
    startTime: string;
    cpu: CpuStats;
    memory: MemoryStats;
  };
  pods: {
    podRef: { name: string; namespace: string; uid: string };
    startTime?: string;
    containers: { name: string; startTime?: string; cpu: CpuStats; memory: MemoryStats }[];
    cpu: CpuStats;
    memory: MemoryStats;
    volume?: {
      time: string;
      name: string;
      usedBytes: number;
      inodesUsed: number;
      capacityBytes?: number;
      availableBytes?: number;
    }[];
  }[];
}

function sumDefined(values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? defined.reduce((a, b) => a + b, 0) : undefined;
}

export function summary(nodeName: string, node: NodeSample, pods: PodStats[]): Summary {
  const nodeTime = node.time.toISOString();
  const used = node.memoryTotalBytes - node.memoryAvailableBytes;
  return {
    node: {
      nodeName,
      startTime: node.startTime.toISOString(),
      cpu: {
        time: nodeTime,
        usageNanoCores: node.cpuUsageNanoCores,
        usageCoreNanoSeconds: node.cpuUsageCoreNanoSeconds,
      },
      memory: {
        time: nodeTime,
        availableBytes: node.memoryAvailableBytes,
        usageBytes: used,
        workingSetBytes: used,
      },
    },
    pods: pods.map((p) => {
      const time = p.time.toISOString();
      const containers = p.containers.map((c) => ({
        name: c.name,
        startTime: c.startTime?.toISOString(),
        cpu: {
          time,
          usageNanoCores: c.cpuUsageNanoCores,
          usageCoreNanoSeconds: c.cpuUsageCoreNanoSeconds,
        },
        memory: {
          time,
          usageBytes: c.memoryUsageBytes ?? c.memoryWorkingSetBytes,
          workingSetBytes: c.memoryWorkingSetBytes,
          rssBytes: c.memoryRssBytes,
        },
      }));
      return {
        podRef: { name: p.name, namespace: p.namespace, uid: p.uid },
        startTime: p.startTime?.toISOString(),
        containers,
        cpu: {
          time,
          usageNanoCores: sumDefined(p.containers.map((c) => c.cpuUsageNanoCores)),
          usageCoreNanoSeconds: sumDefined(p.containers.map((c) => c.cpuUsageCoreNanoSeconds)),
        },
        memory: {
          time,
          usageBytes: sumDefined(p.containers.map((c) => c.memoryUsageBytes)),
          workingSetBytes: sumDefined(p.containers.map((c) => c.memoryWorkingSetBytes)),
        },
        volume: p.volumes?.length ? p.volumes.map((v) => ({ time, ...v })) : undefined,
      };
    }),
  };
}

/** A Prometheus label value, escaped. */
function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(12).replace(/\.?0+$/, "");
}

/** The kubelet's /metrics/resource, timestamps in milliseconds as the kubelet writes them. */
export function resourceMetrics(node: NodeSample, pods: PodStats[]): string {
  const out: string[] = [];
  const family = (name: string, help: string, type: string, samples: string[]) => {
    if (samples.length === 0 && type !== "gauge") return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  const nodeTs = node.time.getTime();
  const containers = pods.flatMap((p) =>
    p.containers.map((c) => ({ p, c, labels: `container="${label(c.name)}",` + podLabels(p) }))
  );
  family(
    "container_cpu_usage_seconds_total",
    "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
    "counter",
    containers.filter(({ c }) => c.cpuUsageCoreNanoSeconds !== undefined).map(({ p, c, labels }) =>
      `container_cpu_usage_seconds_total{${labels}} ${
        fmt(c.cpuUsageCoreNanoSeconds! / 1e9)
      } ${p.time.getTime()}`
    ),
  );
  family(
    "container_memory_working_set_bytes",
    "[STABLE] Current working set of the container in bytes",
    "gauge",
    containers.filter(({ c }) => c.memoryWorkingSetBytes !== undefined).map(({ p, c, labels }) =>
      `container_memory_working_set_bytes{${labels}} ${
        fmt(c.memoryWorkingSetBytes!)
      } ${p.time.getTime()}`
    ),
  );
  family(
    "container_start_time_seconds",
    "[STABLE] Start time of the container since unix epoch in seconds",
    "gauge",
    containers.filter(({ c }) => c.startTime !== undefined).map(({ c, labels }) =>
      `container_start_time_seconds{${labels}} ${fmt(c.startTime!.getTime() / 1000)}`
    ),
  );
  family(
    "node_cpu_usage_seconds_total",
    "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
    "counter",
    [`node_cpu_usage_seconds_total ${fmt(node.cpuUsageCoreNanoSeconds / 1e9)} ${nodeTs}`],
  );
  family(
    "node_memory_working_set_bytes",
    "[STABLE] Current working set of the node in bytes",
    "gauge",
    [`node_memory_working_set_bytes ${
      fmt(node.memoryTotalBytes - node.memoryAvailableBytes)
    } ${nodeTs}`],
  );
  const podCpu = pods.map((p) => ({
    p,
    v: sumDefined(p.containers.map((c) => c.cpuUsageCoreNanoSeconds)),
  })).filter((x) => x.v !== undefined);
  family(
    "pod_cpu_usage_seconds_total",
    "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
    "counter",
    podCpu.map(({ p, v }) =>
      `pod_cpu_usage_seconds_total{${podLabels(p)}} ${fmt(v! / 1e9)} ${p.time.getTime()}`
    ),
  );
  const podMem = pods.map((p) => ({
    p,
    v: sumDefined(p.containers.map((c) => c.memoryWorkingSetBytes)),
  })).filter((x) => x.v !== undefined);
  family(
    "pod_memory_working_set_bytes",
    "[STABLE] Current working set of the pod in bytes",
    "gauge",
    podMem.map(({ p, v }) =>
      `pod_memory_working_set_bytes{${podLabels(p)}} ${fmt(v!)} ${p.time.getTime()}`
    ),
  );
  family(
    "resource_scrape_error",
    "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
    "gauge",
    ["resource_scrape_error 0"],
  );
  return out.join("\n") + "\n";
}

function podLabels(p: PodStats): string {
  return `namespace="${label(p.namespace)}",pod="${label(p.name)}"`;
}
