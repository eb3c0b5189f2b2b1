// Kubelet API throughput and memory: 256 MiB (BENCH_KUBELET_MIB) through `kubectl exec`
// (`cat FILE` out, `cat` in, and `cat` in and out again), through `kubectl port-forward` (an
// HTTP download), and straight to the agent over SPDY with no API server between; via the real
// kube-apiserver to an agent process running the scripted test runtime (its exec runs
// commands on this host). Each transfer is judged against the same bytes over plain TLS on
// loopback in the same shape (one way, or echoed), median of BENCH_KUBELET_RUNS runs. kubectl
// reads and writes files as from a user's shell (the benchmark does not carry the bytes). For
// each transfer the CPU seconds of the agent, kube-apiserver and kubectl are reported too:
// on a small machine they share the cores, and the report should say who used them.

import { startControlPlane } from "../tests/harness/control_plane.ts";
import { freePort } from "../tests/harness/ports.ts";
import { NODE_IP } from "../tests/support/kubelet_api_world.ts";
import { readIdentity, spdyUpgrade, type TlsIdentity } from "../tests/support/spdy_client.ts";
import { adminClients, eventually, nodeEnv, testPod } from "../tests/support/world.ts";
import { median, START_FLAGS } from "./common.ts";
import type { BenchResult } from "./common.ts";
import {
  count,
  type Measured,
  measured,
  type Processes,
  source,
  tlsEcho,
  tlsOneWay,
} from "./transfer_meter.ts";

const NODE = "bench-api-node";
const MiB = 2 ** 20;
const AGENT = new URL("./kubelet_api_agent.ts", import.meta.url).pathname;

/**
 * `kubectl exec` to its end, its stdin from `input` (a file) when given, its stdout counted by
 * `wc -c`: kubectl reads and writes files and pipes as a user's shell would give it, and the
 * benchmark spends no CPU of its own moving the bytes. Returns the count `wc` printed, or
 * (with `printsCount`) the one the remote command printed.
 */
async function kubectlExec(
  kubectl: string[],
  command: string[],
  input: string | undefined,
  printsCount = false,
  env: Record<string, string> = {},
): Promise<number> {
  const quote = (w: string) => `'${w.replaceAll("'", `'\\''`)}'`;
  const line = [...kubectl, "exec", ...(input ? ["-i"] : []), "bench", "--", ...command]
    .map(quote).join(" ") +
    (input ? ` < ${quote(input)}` : "") + (printsCount ? "" : " | wc -c");
  const out = await new Deno.Command("bash", {
    args: ["-c", `set -o pipefail; ${line}`],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env,
  }).output();
  if (!out.success) throw new Error(`kubectl exec ${command.join(" ")} failed`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** exec of `cat FILE` straight to the agent over SPDY, as kube-apiserver would open it. */
async function directDownload(port: number, id: TlsIdentity, file: string): Promise<number> {
  const up = await spdyUpgrade(
    port,
    `/exec/default/bench/vm?command=cat&command=${encodeURIComponent(file)}&output=1&error=1`,
    id,
    ["v4.channel.k8s.io"],
  );
  if (!up.ok) throw new Error(`direct exec refused: ${up.status} ${up.body}`);
  const error = await up.session.openStream({ streamtype: "error" });
  const stdout = await up.session.openStream({ streamtype: "stdout" });
  const stderr = await up.session.openStream({ streamtype: "stderr" });
  const [got] = await Promise.all([
    count(stdout.readable),
    count(stderr.readable),
    count(error.readable),
  ]);
  up.session.destroy();
  return got;
}

/** Runs a transfer `runs` times; the run with the median time, and the largest RSS growth. */
async function medianOf(
  runs: number,
  size: number,
  what: string,
  procs: Processes,
  transfer: () => Promise<number>,
): Promise<Measured> {
  const all: Measured[] = [];
  for (let i = 0; i < runs; i++) {
    const m = await measured(procs, transfer);
    if (m.bytes !== size) throw new Error(`${what} moved ${m.bytes} of ${size} bytes`);
    all.push(m);
  }
  all.sort((a, b) => a.seconds - b.seconds);
  const mid = all[Math.floor(all.length / 2)];
  return { ...mid, growth: Math.max(...all.map((m) => m.growth)) };
}

async function medianRate(runs: number, f: () => Promise<number>): Promise<number> {
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) rates.push(await f());
  return median(rates);
}

/** The API server among the control plane's processes. */
async function apiServerPid(pids: number[]): Promise<number | undefined> {
  for (const pid of pids) {
    const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    if (cmd.includes("kube-apiserver")) return pid;
  }
  return undefined;
}

async function portForward(kubectl: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const pf = new Deno.Command(kubectl[0], {
    args: [...kubectl.slice(1), "port-forward", "--address", "127.0.0.1", "pod/bench", ":80"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = pf.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/127\.0\.0\.1:(\d+) -> 80/.test(seen)) seen += (await out.read()).value ?? "";
  return {
    port: Number(/127\.0\.0\.1:(\d+) -> 80/.exec(seen)![1]),
    async stop() {
      pf.kill("SIGTERM");
      await pf.status;
    },
  };
}

export async function benchKubeletApi(): Promise<BenchResult[]> {
  const size = Number(Deno.env.get("BENCH_KUBELET_MIB") ?? 256) * MiB;
  const runs = Number(Deno.env.get("BENCH_KUBELET_RUNS") ?? 3);
  const cp = await startControlPlane();
  const dir = await Deno.makeTempDir({ prefix: "vzk-bench-api-" });
  const file = `${dir}/download.bin`;
  await source(size).pipeTo((await Deno.create(file)).writable);
  const httpPort = freePort();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: httpPort, onListen() {} },
    () => new Response(source(size)),
  );
  let agent: Deno.ChildProcess | undefined;
  try {
    const env: Record<string, string> = {
      ...(await nodeEnv(cp, NODE)),
      VKUBELET_POD_IP: NODE_IP,
      PATH: Deno.env.get("PATH") ?? "",
      HOME: dir,
      DOCKER_HOST: `unix://${dir}/none.sock`,
      BENCH_PORT_MAP: JSON.stringify({ 80: httpPort }),
      VZK_LOG_LEVEL: "warn",
    };
    agent = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        ...START_FLAGS.filter((f) => f !== "-A"),
        AGENT,
        "--nodename",
        NODE,
        "--cache-dir",
        dir,
      ],
      env,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = agent.stdout.pipeThrough(new TextDecoderStream()).getReader();
    while (!((await lines.read()).value ?? "").includes("ready")) { /* wait */ }
    void (async () => {
      while (!(await lines.read()).done) { /* drain */ }
    })();
    const admin = adminClients(cp);
    await admin.core.createNamespacedPod({ namespace: "default", body: testPod("bench", NODE) });
    await eventually(
      "bench pod Running",
      async () =>
        (await admin.core.readNamespacedPod({ name: "bench", namespace: "default" })).status
          ?.phase === "Running",
      60_000,
    );

    const creds = await cp.nodeCredentials(NODE);
    const tls = {
      cert: await Deno.readTextFile(creds.servingCert),
      key: await Deno.readTextFile(creds.servingKey),
      ca: await Deno.readTextFile(cp.caCertPath),
    };
    const oneWay = await medianRate(runs, () => tlsOneWay(size, tls));
    const echo = await medianRate(runs, () => tlsEcho(size, tls));

    const procs = { agent: agent.pid, apiServer: await apiServerPid(cp.pids) };
    const kubectl = [cp.kubectl, "--kubeconfig", cp.adminKubeconfig];
    const download = await medianOf(
      runs,
      size,
      "exec cat FILE",
      procs,
      () => kubectlExec(kubectl, ["cat", file], undefined),
    );
    const upload = await medianOf(
      runs,
      size,
      "exec -i cat",
      procs,
      () => kubectlExec(kubectl, ["sh", "-c", "cat | wc -c"], file, true),
    );
    const both = await medianOf(
      runs,
      size,
      "exec -i cat (in and out)",
      procs,
      () => kubectlExec(kubectl, ["cat"], file),
    );
    // kubectl's older transport: SPDY end to end, kube-apiserver only copies the bytes (the
    // default, WebSocket, makes it translate every frame to SPDY for the kubelet).
    const SPDY_ONLY = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" };
    const uploadSpdy = await medianOf(
      runs,
      size,
      "exec -i cat over SPDY",
      procs,
      () => kubectlExec(kubectl, ["sh", "-c", "cat | wc -c"], file, true, SPDY_ONLY),
    );
    const bothSpdy = await medianOf(
      runs,
      size,
      "exec -i cat (in and out) over SPDY",
      procs,
      () => kubectlExec(kubectl, ["cat"], file, false, SPDY_ONLY),
    );
    const identity = await readIdentity({
      ca: cp.caCertPath,
      cert: cp.kubeletClientCertPath,
      key: cp.kubeletClientKeyPath,
    });
    const direct = await medianOf(
      runs,
      size,
      "direct exec cat FILE",
      procs,
      () => directDownload(Number(env.KUBELET_PORT), identity, file),
    );
    const pf = await portForward(kubectl);
    const forward = await medianOf(runs, size, "port-forward", procs, async () => {
      const res = await fetch(`http://127.0.0.1:${pf.port}/big`);
      return await count(res.body!);
    }).finally(() => pf.stop());

    const label = `${size / MiB} MiB`;
    const mbps = (m: Measured) => size / MiB / m.seconds;
    const throughput = (
      name: string,
      m: Measured,
      baseline: number,
      baselineWhat: string,
      judged = true,
    ): BenchResult => ({
      name: `${name}, ${label}`,
      value: mbps(m),
      unit: "MB/s",
      baseline,
      baselineWhat,
      target: judged ? ">= 0.5x baseline" : "reported",
      met: judged ? mbps(m) >= 0.5 * baseline : true,
    });
    const cpuShare = (name: string, m: Measured): BenchResult => {
      const c = m.cpu;
      const total = c.agent + c.apiServer + c.kubectl + c.bench;
      return {
        name: `agent CPU during ${name}`,
        value: c.agent,
        unit: "CPU s",
        baseline: total,
        baselineWhat: `CPU s of everything on the path in ${m.seconds.toFixed(2)} s wall: ` +
          `kube-apiserver ${c.apiServer.toFixed(2)}, kubectl (and bash, wc) ${
            c.kubectl.toFixed(2)
          }, ` +
          `benchmark ${c.bench.toFixed(2)}, agent ${c.agent.toFixed(2)}`,
        target: "reported",
        met: true,
      };
    };
    const growth = (name: string, m: Measured): BenchResult => ({
      name: `agent RSS growth during ${name}`,
      value: m.growth / MiB,
      unit: "MB",
      baseline: m.before / MiB,
      baselineWhat: "agent RSS before the transfer",
      target: "< 50 MB",
      met: m.growth / MiB < 50,
    });
    const ONE_WAY = "the same bytes one way over one loopback TLS connection";
    return [
      throughput("kubectl exec … cat FILE (download)", download, oneWay, ONE_WAY),
      throughput("kubectl exec -i … cat (upload)", upload, oneWay, ONE_WAY),
      throughput(
        "kubectl exec -i … cat (in and out)",
        both,
        echo,
        "the same bytes in and out of one loopback TLS connection (echo)",
      ),
      throughput("kubectl port-forward (HTTP download)", forward, oneWay, ONE_WAY),
      throughput(
        "kubectl exec -i … cat (upload), KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false",
        uploadSpdy,
        oneWay,
        ONE_WAY,
        false,
      ),
      throughput(
        "kubectl exec -i … cat (in and out), KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false",
        bothSpdy,
        echo,
        "the same bytes in and out of one loopback TLS connection (echo)",
        false,
      ),
      throughput(
        "exec cat FILE straight to the agent over SPDY (no API server)",
        direct,
        oneWay,
        ONE_WAY,
        false,
      ),
      cpuShare("kubectl exec download", download),
      cpuShare("kubectl exec upload", upload),
      cpuShare("kubectl exec in and out", both),
      cpuShare("kubectl port-forward", forward),
      cpuShare("kubectl exec upload over SPDY", uploadSpdy),
      growth("kubectl exec download", download),
      growth("kubectl exec upload", upload),
      growth("kubectl exec in and out", both),
      growth("kubectl port-forward", forward),
    ];
  } finally {
    if (agent) {
      try {
        agent.kill("SIGTERM");
      } catch { /* gone */ }
      await agent.status;
    }
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
