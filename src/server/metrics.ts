// The agent's own Prometheus metrics, served on /metrics: kubelet API requests, streaming
// sessions and bytes, and process figures. A small registry with the text exposition format.
// Hand-written: prom-client pulls in Node-specific cluster/worker code and is far larger than
// the ~100 lines a few counters, gauges and one histogram need.

import process from "node:process";

type Labels = Record<string, string>;

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Family {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly type: string) {}
  add(labels: Labels, delta: number): void {
    const key = labelText(labels);
    const v = this.values.get(key);
    if (v) v.value += delta;
    else this.values.set(key, { labels, value: delta });
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`);
    for (const { labels, value } of this.values.values()) {
      out.push(`${this.name}${labelText(labels)} ${value}`);
    }
  }
}

class Histogram {
  readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; n: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(labels: Labels, v: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, n: 0 };
      this.series.set(key, s);
    }
    this.buckets.forEach((b, i) => {
      if (v <= b) s!.counts[i]++;
    });
    s.sum += v;
    s.n++;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.n}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.n}`);
    }
  }
}

export interface ServerMetrics {
  /** One finished kubelet API request (streaming requests count when they end). */
  request(route: string, method: string, code: number, seconds: number): void;
  /** A streaming session opened (+1) or ended (-1). */
  session(kind: string, delta: 1 | -1): void;
  /** A streaming request was upgraded: exec/attach/portforward over "spdy" or "websocket". */
  upgraded(kind: string, transport: "spdy" | "websocket"): void;
  /** Bytes moved by exec/attach/port-forward/logs, by direction ("in" from callers). */
  bytes(kind: string, direction: "in" | "out", n: number): void;
  /** An authentication or authorisation refusal. */
  refused(code: 401 | 403): void;
  /** A connection closed for taking too long: "tls-handshake" or "request-header". */
  connectionTimedOut(phase: "tls-handshake" | "request-header"): void;
  /** Prometheus text, with `extra` gauges (name -> value) appended. */
  render(extra?: Record<string, { help: string; value: number }>): string;
}

export function createServerMetrics(): ServerMetrics {
  const started = performance.timeOrigin / 1000;
  const requests = new Family(
    "vzk_kubelet_api_requests_total",
    "Kubelet API requests by route, method and HTTP status code.",
    "counter",
  );
  const durations = new Histogram(
    "vzk_kubelet_api_request_duration_seconds",
    "Kubelet API request duration by route (streaming requests: whole session).",
    DURATION_BUCKETS,
  );
  const sessions = new Family(
    "vzk_kubelet_api_streaming_sessions",
    "Open streaming sessions (exec, attach, portforward, logs follow) by kind.",
    "gauge",
  );
  const bytes = new Family(
    "vzk_kubelet_api_streamed_bytes_total",
    "Bytes carried by streaming sessions by kind and direction.",
    "counter",
  );
  const upgrades = new Family(
    "vzk_kubelet_api_stream_upgrades_total",
    "Streaming requests upgraded, by kind and transport (spdy: kubectl's SPDY, or what " +
      "kube-apiserver translates WebSocket to; websocket: passed straight through).",
    "counter",
  );
  const refusals = new Family(
    "vzk_kubelet_api_refused_total",
    "Requests refused by authentication (401) or authorisation (403).",
    "counter",
  );
  const timedOut = new Family(
    "vzk_kubelet_api_connection_timeouts_total",
    "Connections closed because the TLS handshake or the first request header came too late.",
    "counter",
  );
  return {
    request(route, method, code, seconds) {
      requests.add({ route, method, code: String(code) }, 1);
      durations.observe({ route }, seconds);
    },
    session(kind, delta) {
      sessions.add({ kind }, delta);
    },
    upgraded(kind, transport) {
      upgrades.add({ kind, transport }, 1);
    },
    bytes(kind, direction, n) {
      bytes.add({ kind, direction }, n);
    },
    refused(code) {
      refusals.add({ code: String(code) }, 1);
    },
    connectionTimedOut(phase) {
      timedOut.add({ phase }, 1);
    },
    render(extra = {}) {
      const out: string[] = [];
      for (const f of [requests, sessions, upgrades, bytes, refusals, timedOut]) f.render(out);
      durations.render(out);
      const cpu = process.cpuUsage();
      const gauges: Record<string, { help: string; value: number; type?: string }> = {
        process_resident_memory_bytes: {
          help: "Resident memory size in bytes.",
          value: Deno.memoryUsage().rss,
        },
        process_start_time_seconds: {
          help: "Start time of the process since unix epoch in seconds.",
          value: started,
        },
        process_cpu_seconds_total: {
          help: "Total user and system CPU time spent in seconds.",
          value: (cpu.user + cpu.system) / 1e6,
          type: "counter",
        },
        ...extra,
      };
      for (const [name, g] of Object.entries(gauges)) {
        out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} ${g.type ?? "gauge"}`);
        out.push(`${name} ${g.value}`);
      }
      return out.join("\n") + "\n";
    },
  };
}
