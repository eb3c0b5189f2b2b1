// The kubelet API benchmark's report, from every round's measurement of every transfer: for
// each, the run with the median time (and the largest agent RSS growth of all rounds). Judged:
// with kube-apiserver proxying, kubectl's default transport moves uploads and in-and-out at
// >= 0.9x what kubectl's SPDY reaches, and kube-apiserver spends <= 0.4x the CPU per GiB it
// spends translating (the agent that declares nothing: the pre-1.36 path); agent RSS growth
// < 50 MB. Reported beside them: the real kubelet on the same API server, plain TLS on loopback
// (the old pass mark), exec straight to the agent, who used the CPU, and kube-apiserver's share
// of a proxied stream against a bare Go TLS relay of the same bytes (the floor under it).

import type { BenchResult } from "./common.ts";
import type { TransferKind } from "./kubelet_transfers.ts";
import type { Measured } from "./transfer_meter.ts";

/** Measurements by runKey(), one per round. */
export type Runs = Map<string, Measured[]>;

export const runKey = (target: string, kind: TransferKind, spdy: boolean) =>
  `${target}|${kind}|${spdy ? "spdy" : "default"}`;

export interface ReportContext {
  sizeMiB: number;
  /** Median MB/s of plain TLS over loopback, one way and echoed. */
  oneWay: number;
  echo: number;
  /** Median CPU seconds per GiB of a bare Go TLS relay (tls_relay.ts), one way. */
  relayFloor: number;
  /** [proxied agent, translated agent, real kubelet] */
  targets: string[];
  /** The 1-minute load average as each round began (the machine is shared). */
  loads: number[];
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const KINDS: TransferKind[] = ["download", "upload", "in and out", "port-forward"];

function medianRun(all: Measured[]): Measured {
  const sorted = [...all].sort((a, b) => a.seconds - b.seconds);
  const mid = sorted[Math.floor(sorted.length / 2)];
  return { ...mid, growth: Math.max(...all.map((m) => m.growth)) };
}

const transport = (spdy: boolean) =>
  spdy ? "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false (SPDY)" : "kubectl's default transport";

const what = (kind: TransferKind) =>
  kind === "port-forward"
    ? "kubectl port-forward (HTTP download)"
    : `kubectl exec ${kind === "download" ? "… cat FILE" : "-i … cat"} (${kind})`;

export function report(runs: Runs, ctx: ReportContext): BenchResult[] {
  const [proxied, translated, kubelet] = ctx.targets;
  const get = (target: string, kind: TransferKind, spdy = false) => {
    const all = runs.get(runKey(target, kind, spdy));
    if (!all?.length) throw new Error(`no runs of ${runKey(target, kind, spdy)}`);
    return medianRun(all);
  };
  const mbps = (m: Measured) => m.bytes / MiB / m.seconds;
  const perGiB = (cpu: number, m: Measured) => cpu / (m.bytes / GiB);
  const size = `${ctx.sizeMiB} MiB`;
  // In and out crosses kube-apiserver twice.
  const floor = (kind: TransferKind) => ctx.relayFloor * (kind === "in and out" ? 2 : 1);
  const results: BenchResult[] = [];
  const reported = (r: Omit<BenchResult, "target" | "met">): BenchResult => ({
    ...r,
    target: "reported",
    met: true,
  });

  // Throughput: every node and transport, beside the real kubelet.
  for (const spdy of [false, true]) {
    for (const kind of KINDS) {
      const base = get(kubelet, kind, spdy);
      for (const target of [proxied, translated]) {
        results.push(reported({
          name: `${what(kind)}, ${size}, agent (${target}), ${transport(spdy)}`,
          value: mbps(get(target, kind, spdy)),
          unit: "MB/s",
          baseline: mbps(base),
          baselineWhat: `real ${kubelet} with containerd 1.6 and runc, same API server`,
        }));
      }
    }
  }

  // Judged: the default transport against kubectl's SPDY, both proxied.
  for (const kind of ["upload", "in and out"] as const) {
    const ws = mbps(get(proxied, kind));
    const spdy = mbps(get(proxied, kind, true));
    results.push({
      name: `${what(kind)}, ${size}, agent (proxied): default transport vs SPDY`,
      value: ws,
      unit: "MB/s",
      baseline: spdy,
      baselineWhat: "the same with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false, same run",
      target: ">= 0.9x baseline",
      met: ws >= 0.9 * spdy,
    });
  }

  // Judged: kube-apiserver CPU per GiB on the default transport, proxied vs translated.
  for (const kind of KINDS) {
    const p = get(proxied, kind);
    const t = get(translated, kind);
    const k = get(kubelet, kind);
    const value = perGiB(p.cpu.apiServer, p);
    const baseline = perGiB(t.cpu.apiServer, t);
    results.push({
      name: `kube-apiserver CPU per GiB, ${what(kind)}, default transport, proxied to the agent`,
      value,
      unit: "CPU s/GiB",
      baseline,
      baselineWhat: `translated to SPDY for an agent that declares nothing (the real kubelet: ${
        perGiB(k.cpu.apiServer, k).toFixed(2)
      }; a bare Go TLS relay of the same bytes: ${floor(kind).toFixed(2)})`,
      target: "<= 0.4x baseline",
      met: value <= 0.4 * baseline,
    });
  }

  // Reported: what proxying leaves kube-apiserver, against what any relay of the bytes costs.
  for (const kind of KINDS) {
    const p = get(proxied, kind);
    results.push(reported({
      name: `kube-apiserver CPU per GiB, ${what(kind)}, default transport, proxied, against a ` +
        `bare TLS relay`,
      value: perGiB(p.cpu.apiServer, p),
      unit: "CPU s/GiB",
      baseline: floor(kind),
      baselineWhat: "bench/tls_relay: Go crypto/tls both sides, io.Copy, same bytes, same rounds",
    }));
  }

  // Reported: the node side's CPU per GiB (agent; kubelet + containerd + shim).
  for (const kind of KINDS) {
    const p = get(proxied, kind);
    const k = get(kubelet, kind);
    const c = p.cpu;
    results.push(reported({
      name: `node CPU per GiB, ${what(kind)}, default transport, agent (proxied)`,
      value: perGiB(c.node, p),
      unit: "CPU s/GiB",
      baseline: perGiB(k.cpu.node, k),
      baselineWhat: `real kubelet + containerd + shim; agent run ${p.seconds.toFixed(2)} s wall: ` +
        `kube-apiserver ${c.apiServer.toFixed(2)}, kubectl (and bash, wc) ${
          c.kubectl.toFixed(2)
        }, ` +
        `benchmark ${c.bench.toFixed(2)}, agent ${c.node.toFixed(2)} CPU s`,
    }));
  }

  // Reported: the old pass mark, plain TLS over loopback; and exec with no API server.
  for (const kind of KINDS) {
    const echoed = kind === "in and out";
    results.push(reported({
      name: `${what(kind)}, ${size}, agent (proxied), against plain TLS`,
      value: mbps(get(proxied, kind)),
      unit: "MB/s",
      baseline: echoed ? ctx.echo : ctx.oneWay,
      baselineWhat: echoed
        ? "the same bytes in and out of one loopback TLS connection (echo)"
        : "the same bytes one way over one loopback TLS connection",
    }));
  }
  const direct = runs.get("direct");
  if (direct?.length) {
    results.push(reported({
      name: `exec cat FILE straight to the agent over SPDY (no API server), ${size}`,
      value: mbps(medianRun(direct)),
      unit: "MB/s",
      baseline: ctx.oneWay,
      baselineWhat: "the same bytes one way over one loopback TLS connection",
    }));
  }

  results.push(reported({
    name: `load average (1 min) as the ${ctx.loads.length} rounds began, highest`,
    value: Math.max(...ctx.loads),
    unit: "",
    baseline: Math.min(...ctx.loads),
    baselineWhat: `lowest; all: ${ctx.loads.join(", ")} on ${navigator.hardwareConcurrency} CPUs`,
  }));

  // Judged: the agent's memory stays bounded whatever the transfer.
  for (const kind of KINDS) {
    for (const spdy of [false, true]) {
      const m = get(proxied, kind, spdy);
      results.push({
        name: `agent RSS growth during ${what(kind)}, ${transport(spdy)}`,
        value: m.growth / MiB,
        unit: "MB",
        baseline: m.before / MiB,
        baselineWhat: "agent RSS before the transfer",
        target: "< 50 MB",
        met: m.growth / MiB < 50,
      });
    }
  }
  return results;
}
