// The agent as a user runs it: `deno run -A main.ts …` as a child process. Bad input exits
// 2 before anything starts; a real agent with no VM backend joins a real cluster, says so
// on the node and on its pods, and stops on SIGTERM within 10 s.

import "reflect-metadata";
import assert from "node:assert/strict";
import { startControlPlane } from "../harness/control_plane.ts";
import {
  adminClients,
  denoDirEnv,
  eventually,
  nodeEnv,
  podEvents,
  testPod,
} from "../support/world.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function agentCommand(args: string[], env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("cli: version and --help", async () => {
  const v = await agentCommand(["version"], {}).output();
  assert.equal(v.code, 0);
  assert.match(new TextDecoder().decode(v.stdout), /^macos-vz-kubelet \d+\.\d+\.\d+/);
  const h = await agentCommand(["--help"], {}).output();
  assert.equal(h.code, 0);
  const text = new TextDecoder().decode(h.stdout);
  for (
    const opt of [
      "--nodename",
      "--pod-sync-workers",
      "KUBECONFIG",
      "VZ_SSH_PASSWORD",
      "KUBELET_PORT",
    ]
  ) {
    assert.ok(text.includes(opt), `--help mentions ${opt}`);
  }
});

Deno.test("cli: every bad option is reported at once, exit 2, no secret echoed", async () => {
  const out = await agentCommand(
    ["--pod-sync-workers", "zero", "--log-level", "loud", "--backend", "hyperv"],
    {
      KUBELET_PORT: "99999",
      VZ_SSH_PASSWORD: "hunter2-secret",
      VZ_SSH_PRIVATE_KEY_BASE64: "!!notbase64",
    },
  ).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, err);
  for (const name of ["--pod-sync-workers", "--log-level", "--backend", "KUBELET_PORT"]) {
    assert.ok(err.includes(name), `error names ${name}:\n${err}`);
  }
  assert.ok(!err.includes("hunter2-secret"));
  assert.ok(!err.includes("!!notbase64"));
  assert.ok(!err.includes("agent started"));
});

Deno.test({
  name: "cli: the agent without QEMU joins, says why pods wait, stops on SIGTERM",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cp = await startControlPlane();
    const cacheDir = await Deno.makeTempDir({ prefix: "vzk-cli-cache-" });
    const admin = adminClients(cp);
    const env = await nodeEnv(cp, "cli-node");
    delete env.APISERVER_CERT_LOCATION;
    delete env.APISERVER_KEY_LOCATION;
    const child = agentCommand(["--nodename", "cli-node", "--cache-dir", cacheDir], {
      ...env,
      HOME: cacheDir,
      ...denoDirEnv(),
      // No QEMU on PATH: the qemu backend cannot start, so the agent runs without one.
      PATH: "/nonexistent",
      DOCKER_HOST: `unix://${cacheDir}/no-docker.sock`,
    }).spawn();
    const stderr: string[] = [];
    const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (s) => void stderr.push(s) }),
    );
    try {
      const node = await eventually("node Ready", async () => {
        const n = await admin.core.readNode({ name: "cli-node" }).catch(() => undefined);
        const ready = n?.status?.conditions?.find((c) => c.type === "Ready");
        return ready?.status === "True" && ready;
      }, 60_000);
      assert.match(
        node.message ?? "",
        /no VM can start: the qemu backend cannot start: .*cannot run.*install QEMU/,
      );
      // No serving certificate given: one was generated and the agent said so.
      await Deno.stat(`${cacheDir}/pki/kubelet-serving.crt`);
      assert.match(stderr.join(""), /self-signed/);

      await admin.core.createNamespacedPod({
        namespace: "default",
        body: testPod("waits", "cli-node"),
      });
      const pod = await eventually("pod waiting with a reason", async () => {
        const p = await admin.core.readNamespacedPod({ name: "waits", namespace: "default" });
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === "VMBackendUnavailable" && p;
      });
      assert.equal(pod.status?.phase, "Pending");
      const events = await eventually("warning event", async () => {
        const ev = await podEvents(admin, "default", "waits");
        return ev.some((e) => e.type === "Warning" && e.reason === "VMBackendUnavailable") && ev;
      });
      assert.ok(events.length);
      // Secrets never reach the log.
      assert.ok(!stderr.join("").includes("BEGIN"));

      const t0 = Date.now();
      child.kill("SIGTERM");
      const status = await child.status;
      const took = Date.now() - t0;
      assert.equal(status.code, 0);
      assert.ok(took < 10_000, `stopped in ${took} ms`);
      assert.match(stderr.join(""), /agent stopped/);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.stdout.cancel().catch(() => {});
      await reading.catch(() => {});
      await cp.stop();
      await Deno.remove(cacheDir, { recursive: true });
    }
  },
});
