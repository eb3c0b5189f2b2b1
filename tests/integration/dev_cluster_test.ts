// `deno task dev-cluster` as a developer uses it: it prints "dev cluster ready", its env
// file alone lets `deno task start` join as dev-mac, kubectl and the registry work, and
// SIGTERM stops everything within 10 s.

import "reflect-metadata";
import assert from "node:assert/strict";
import { eventually } from "../support/world.ts";
import { loadKubeConfig, makeClients } from "../../src/kube/client.ts";
import { removeBridge } from "../../src/network/linux_bridge.ts";

const REPO = new URL("../..", import.meta.url).pathname;

function lines(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void sink.push(s) }),
  );
}

Deno.test({
  name: "dev-cluster: env file lets the agent join as dev-mac; SIGTERM stops it all",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vzk-devcluster-" });
    const baseEnv = { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? dir };
    const cluster = new Deno.Command("./deno.sh", {
      args: ["task", "dev-cluster", "--node", "extra-mac"],
      cwd: REPO,
      env: { ...baseEnv, DEV_CLUSTER_DIR: dir },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out: string[] = [];
    let clusterExited = false;
    cluster.status.then(() => clusterExited = true);
    let agentExited = false;
    const reading = Promise.all([lines(cluster.stdout, out), lines(cluster.stderr, out)]);
    let agent: Deno.ChildProcess | undefined;
    const bridges: string[] = [];
    const agentOut: string[] = [];
    try {
      await eventually(
        "dev cluster ready",
        () => out.join("").includes("dev cluster ready"),
        120_000,
      );
      const env = await Deno.readTextFile(`${dir}/env`);
      for (const v of ["KUBECONFIG", "APISERVER_CERT_LOCATION", "KUBECTL", "DEV_REGISTRY"]) {
        assert.match(env, new RegExp(`^export ${v}=`, "m"));
      }
      await Deno.stat(`${dir}/nodes/extra-mac/kubeconfig`);

      // Only what the env file sets, plus PATH and HOME.
      const cache = await Deno.makeTempDir({ prefix: "vzk-devcluster-cache-" });
      const bridge = `vzkd${Math.floor(Math.random() * 0xffff).toString(16)}`;
      bridges.push(bridge);
      agent = new Deno.Command("bash", {
        args: [
          "-c",
          `source "${dir}/env" && exec ./deno.sh task start --cache-dir "${cache}" ` +
          `--qemu-bridge ${bridge} --qemu-subnet 10.253.${Math.floor(Math.random() * 250)}.0/24 ` +
          `--qemu-nat=false`,
        ],
        cwd: REPO,
        env: { ...baseEnv, DOCKER_HOST: `unix://${cache}/none.sock` },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      agent.status.then(() => agentExited = true);
      const agentReading = Promise.all([
        lines(agent.stdout, agentOut),
        lines(agent.stderr, agentOut),
      ]);

      const admin = makeClients(loadKubeConfig({ kubeconfigPath: `${dir}/admin.kubeconfig` }));
      await eventually("dev-mac Ready", async () => {
        const n = await admin.core.readNode({ name: "dev-mac" }).catch(() => undefined);
        return n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      }, 120_000).catch((err) => {
        throw new Error(`${err.message}\nagent output:\n${agentOut.join("").slice(-3000)}`);
      });

      const kubectl = /^export KUBECTL='?([^'\n]+)'?$/m.exec(env)![1];
      const get = await new Deno.Command(kubectl, {
        args: ["--kubeconfig", `${dir}/admin.kubeconfig`, "get", "nodes", "-o", "name"],
        stdout: "piped",
      }).output();
      assert.match(new TextDecoder().decode(get.stdout), /node\/dev-mac/);

      const registry = /^export DEV_REGISTRY='?([^'\n]+)'?$/m.exec(env)![1];
      const v2 = await fetch(`http://${registry}/v2/`);
      await v2.body?.cancel();
      assert.equal(v2.status, 200);

      agent.kill("SIGTERM");
      assert.equal((await agent.status).code, 0, agentOut.join(""));
      await agentReading;
      agent = undefined;

      const t0 = Date.now();
      cluster.kill("SIGTERM");
      await cluster.status;
      assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms`);
      await assert.rejects(Deno.stat(`${dir}/env`));
      await Deno.remove(cache, { recursive: true });
    } finally {
      // Kill only what is still running: kill() on a child that has been waited for has
      // crashed Deno (SIGSEGV in a runtime thread) in this test.
      if (agent && !agentExited) agent.kill("SIGKILL");
      if (!clusterExited) cluster.kill("SIGKILL");
      // SIGKILL reaches `deno task` only: its child dev_cluster.ts (which holds the pipes)
      // would live on, and the test would wait for the pipes forever.
      for (const pid of processesMentioning(dir)) Deno.kill(pid, "SIGTERM");
      await Promise.race([reading.catch(() => {}), new Promise((r) => setTimeout(r, 15_000))]);
      for (const b of bridges) await removeBridge(b).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Live processes whose command line or environment names `text` (the cluster's dir). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      const env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
      if (cmd.includes(text) || env.includes(text)) pids.push(Number(e.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
