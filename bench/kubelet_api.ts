// Kubelet API throughput and cost, side by side on this machine: 256 MiB (BENCH_KUBELET_MIB)
// downloaded, uploaded, sent in and out through `kubectl exec`, and downloaded over HTTP through
// `kubectl port-forward`, via one real kube-apiserver (Kubernetes 1.37) to three nodes
// (kubelet_targets.ts): the agent whose WebSocket streams kube-apiserver proxies, the agent whose
// streams it translates to SPDY, and a real kubelet v1.35.4 with containerd 1.6 and runc. Every
// transfer runs with kubectl's default transport and with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false
// (SPDY). BENCH_KUBELET_RUNS rounds (default 3), each running every transfer on every node once,
// in an order that rotates between rounds, so load on the shared machine hits all alike; each
// figure is the median of its rounds. Plain TLS over loopback (one way and echoed), exec
// straight to the agent (no API server) and the CPU a bare Go TLS relay spends per GiB (the floor
// under kube-apiserver's share of a proxied stream) are measured in the same rounds and reported.

import { startControlPlane } from "../tests/harness/control_plane.ts";
import { freePort } from "../tests/harness/ports.ts";
import type { BenchResult } from "./common.ts";
import { median } from "./common.ts";
import { startAgentTarget, startKubeletTarget, type Target } from "./kubelet_targets.ts";
import { report, runKey, type Runs } from "./kubelet_report.ts";
import {
  directDownload,
  execTransfer,
  forwardedDownload,
  type PortForward,
  portForward,
  readIdentity,
  type TransferKind,
} from "./kubelet_transfers.ts";
import { type Measured, measured, source, tlsEcho, tlsOneWay } from "./transfer_meter.ts";
import { tlsRelayFloor } from "./tls_relay.ts";

const MiB = 2 ** 20;
const KINDS: TransferKind[] = ["download", "upload", "in and out", "port-forward"];

/** The API server among the control plane's processes. */
async function apiServerPid(pids: number[]): Promise<number | undefined> {
  for (const pid of pids) {
    const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    if (cmd.includes("kube-apiserver")) return pid;
  }
  return undefined;
}

/** Rotates `xs` by `n`. */
const rotate = <T>(xs: T[], n: number) => xs.map((_, i) => xs[(i + n) % xs.length]);

export async function benchKubeletApi(): Promise<BenchResult[]> {
  const size = Number(Deno.env.get("BENCH_KUBELET_MIB") ?? 256) * MiB;
  const rounds = Number(Deno.env.get("BENCH_KUBELET_RUNS") ?? 3);
  const cp = await startControlPlane();
  const dir = await Deno.makeTempDir({ prefix: "vzk-bench-api-" });
  const shared = `${dir}/shared`;
  await Deno.mkdir(shared);
  const file = `${shared}/download.bin`;
  await source(size).pipeTo((await Deno.create(file)).writable);
  const httpPort = freePort();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: httpPort, onListen() {} },
    () => new Response(source(size)),
  );
  const targets: Target[] = [];
  const forwards: PortForward[] = [];
  try {
    targets.push(
      await startAgentTarget(cp, "proxied", "bench-agent", `${dir}/agent`, httpPort, false),
      await startAgentTarget(cp, "translated", "bench-plain", `${dir}/plain`, httpPort, true),
      await startKubeletTarget(cp, `${dir}/kubelet`, shared, httpPort),
    );
    const kubectl = [cp.kubectl, "--kubeconfig", cp.adminKubeconfig];
    const apiServer = await apiServerPid(cp.pids);
    const pf = new Map<string, PortForward>();
    for (const t of targets) {
      for (const spdy of [false, true]) {
        const f = await portForward(kubectl, t.pod, t.httpPort, spdy);
        forwards.push(f);
        pf.set(`${t.name}|${spdy}`, f);
      }
    }
    const creds = await cp.nodeCredentials(targets[0].node);
    const tls = {
      cert: await Deno.readTextFile(creds.servingCert),
      key: await Deno.readTextFile(creds.servingKey),
      ca: await Deno.readTextFile(cp.caCertPath),
    };
    const identity = await readIdentity({
      ca: cp.caCertPath,
      cert: cp.kubeletClientCertPath,
      key: cp.kubeletClientKeyPath,
    });

    const runs: Runs = new Map();
    const loads: number[] = [];
    const oneWay: number[] = [];
    const echo: number[] = [];
    const relay: number[] = [];
    const keep = (key: string, m: Measured) => {
      if (m.bytes !== size) throw new Error(`${key} moved ${m.bytes} of ${size} bytes`);
      runs.set(key, [...(runs.get(key) ?? []), m]);
    };
    for (let round = 0; round < rounds; round++) {
      const load = (await Deno.readTextFile("/proc/loadavg")).split(" ")[0];
      loads.push(Number(load));
      console.error(`kubelet API bench: round ${round + 1} of ${rounds} (load ${load})`);
      oneWay.push(await tlsOneWay(size, tls));
      echo.push(await tlsEcho(size, tls));
      relay.push(await tlsRelayFloor(size));
      for (const kind of rotate(KINDS, round)) {
        for (const spdy of round % 2 ? [true, false] : [false, true]) {
          for (const t of rotate(targets, round)) {
            const forward = pf.get(`${t.name}|${spdy}`)!;
            const procs = {
              node: await t.pids(),
              apiServer,
              clients: kind === "port-forward" ? [forward.pid] : [],
            };
            keep(
              runKey(t.name, kind, spdy),
              await measured(
                procs,
                () =>
                  kind === "port-forward"
                    ? forwardedDownload(forward)
                    : execTransfer(kind, kubectl, t.pod, file, spdy),
              ),
            );
          }
        }
      }
      const agent = targets[0];
      keep(
        "direct",
        await measured(
          { node: await agent.pids() },
          () => directDownload(agent.kubeletPort!, identity, agent.pod, file),
        ),
      );
    }
    return report(runs, {
      sizeMiB: size / MiB,
      oneWay: median(oneWay),
      echo: median(echo),
      relayFloor: median(relay),
      targets: targets.map((t) => t.name),
      loads,
    });
  } finally {
    for (const f of forwards) await f.stop().catch(() => {});
    for (const t of targets.reverse()) await t.stop().catch(() => {});
    await http.shutdown();
    await cp.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  for (const r of await benchKubeletApi()) {
    console.log(
      `${r.name}: ${r.value.toFixed(2)} ${r.unit} (baseline ${r.baseline.toFixed(2)} ` +
        `${r.unit}: ${r.baselineWhat}; target ${r.target}: ${r.met ? "met" : "NOT met"})`,
    );
  }
}
