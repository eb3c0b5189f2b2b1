// Kubelet API throughput and memory: 256 MiB (BENCH_KUBELET_MIB) through `kubectl exec -i …
// cat` (in and out again) and through `kubectl port-forward` (an HTTP download), via the real
// kube-apiserver to an agent process running the scripted test runtime. Baseline: the same
// bytes through one plain TLS connection on loopback in this process. The agent's RSS is
// sampled every 100 ms during each transfer; growth is the peak over the RSS before it.

import { startControlPlane } from "../tests/harness/control_plane.ts";
import { freePort } from "../tests/harness/ports.ts";
import { NODE_IP } from "../tests/support/kubelet_api_world.ts";
import { adminClients, eventually, nodeEnv, testPod } from "../tests/support/world.ts";
import type { BenchResult } from "./main.ts";

const NODE = "bench-api-node";
const MiB = 2 ** 20;
const CHUNK = new Uint8Array(MiB).map((_, i) => (i * 31) & 0xff);
const AGENT = new URL("./kubelet_api_agent.ts", import.meta.url).pathname;
const START_FLAGS: string[] = (() => {
  const deno = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const words = String(deno.tasks.start).split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
})();

async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** User + system CPU seconds the process has used. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `transfer`, sampling the agent's RSS; returns seconds taken and peak RSS growth. */
async function measured(pid: number, transfer: () => Promise<number>) {
  const before = await rss(pid);
  let peak = before;
  const timer = setInterval(async () => {
    peak = Math.max(peak, await rss(pid).catch(() => 0));
  }, 100);
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  const bytes = await transfer();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpu0;
  clearInterval(timer);
  peak = Math.max(peak, await rss(pid));
  return { seconds, bytes, growth: peak - before, before, cpu };
}

/** Feeds `size` bytes in 1 MiB chunks. */
function source(size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= size) return c.close();
      const n = Math.min(MiB, size - sent);
      c.enqueue(n === MiB ? CHUNK : CHUNK.subarray(0, n));
      sent += n;
    },
  });
}

async function count(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.byteLength;
  return n;
}

/** The same bytes through one TLS connection on loopback, with the node's certificate. */
async function tlsBaseline(size: number, cert: string, key: string, ca: string): Promise<number> {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  const serving = (async () => {
    const conn = await listener.accept();
    await source(size).pipeTo(conn.writable);
  })();
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    caCerts: [ca],
  });
  const t0 = performance.now();
  const got = await count(conn.readable);
  const seconds = (performance.now() - t0) / 1000;
  await serving;
  listener.close();
  if (got !== size) throw new Error(`baseline moved ${got} of ${size} bytes`);
  return size / MiB / seconds;
}

export async function benchKubeletApi(): Promise<BenchResult[]> {
  const size = Number(Deno.env.get("BENCH_KUBELET_MIB") ?? 256) * MiB;
  const cp = await startControlPlane();
  const dir = await Deno.makeTempDir({ prefix: "vzk-bench-api-" });
  const httpPort = freePort();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: httpPort, onListen() {} },
    () => new Response(source(size)),
  );
  let agent: Deno.ChildProcess | undefined;
  try {
    const env = {
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
          ?.phase ===
          "Running",
      60_000,
    );

    const creds = await cp.nodeCredentials(NODE);
    const baseline = await tlsBaseline(
      size,
      await Deno.readTextFile(creds.servingCert),
      await Deno.readTextFile(creds.servingKey),
      await Deno.readTextFile(cp.caCertPath),
    );

    const exec = await measured(agent.pid, async () => {
      const child = new Deno.Command(cp.kubectl, {
        args: ["--kubeconfig", cp.adminKubeconfig, "exec", "-i", "bench", "--", "cat"],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const [, got] = await Promise.all([source(size).pipeTo(child.stdin), count(child.stdout)]);
      if (!(await child.status).success) throw new Error("kubectl exec failed");
      return got;
    });
    if (exec.bytes !== size) throw new Error(`exec moved ${exec.bytes} of ${size} bytes`);

    const pf = new Deno.Command(cp.kubectl, {
      args: [
        "--kubeconfig",
        cp.adminKubeconfig,
        "port-forward",
        "--address",
        "127.0.0.1",
        "pod/bench",
        ":80",
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const pfOut = pf.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/127\.0\.0\.1:(\d+) -> 80/.test(seen)) seen += (await pfOut.read()).value ?? "";
    const localPort = Number(/127\.0\.0\.1:(\d+) -> 80/.exec(seen)![1]);
    const forward = await measured(agent.pid, async () => {
      const res = await fetch(`http://127.0.0.1:${localPort}/big`);
      return await count(res.body!);
    });
    pf.kill("SIGTERM");
    await pf.status;
    if (forward.bytes !== size) {
      throw new Error(`port-forward moved ${forward.bytes} of ${size} bytes`);
    }

    const mbps = (r: { seconds: number }) => size / MiB / r.seconds;
    const mb = (b: number) => b / MiB;
    const label = `${size / MiB} MiB`;
    return [
      {
        name: `kubectl exec -i cat, ${label} in and out`,
        value: mbps(exec),
        unit: "MB/s",
        baseline,
        baselineWhat: "the same bytes over one loopback TLS connection",
        target: ">= 0.5x baseline",
        met: mbps(exec) >= 0.5 * baseline,
      },
      {
        name: `kubectl port-forward, ${label} HTTP download`,
        value: mbps(forward),
        unit: "MB/s",
        baseline,
        baselineWhat: "the same bytes over one loopback TLS connection",
        target: ">= 0.5x baseline",
        met: mbps(forward) >= 0.5 * baseline,
      },
      {
        name: "agent CPU during the exec transfer",
        value: (100 * exec.cpu) / exec.seconds,
        unit: "% of a core",
        baseline: (100 * forward.cpu) / forward.seconds,
        baselineWhat: "agent CPU during the port-forward transfer",
        target: "reported (kube-apiserver and kubectl share the cores)",
        met: true,
      },
      {
        name: "agent RSS growth during the exec transfer",
        value: mb(exec.growth),
        unit: "MB",
        baseline: mb(exec.before),
        baselineWhat: "agent RSS before the transfer",
        target: "< 50 MB",
        met: mb(exec.growth) < 50,
      },
      {
        name: "agent RSS growth during the port-forward transfer",
        value: mb(forward.growth),
        unit: "MB",
        baseline: mb(forward.before),
        baselineWhat: "agent RSS before the transfer",
        target: "< 50 MB",
        met: mb(forward.growth) < 50,
      },
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
      `${r.name}: ${r.value.toFixed(1)} ${r.unit} (baseline ${r.baseline.toFixed(1)} ${r.unit}, ` +
        `target ${r.target}: ${r.met ? "met" : "NOT met"})`,
    );
  }
}
