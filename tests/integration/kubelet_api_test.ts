// The kubelet API through the real kubectl and the real kube-apiserver (which reaches the
// agent with its kubelet-client certificate): logs, exec (over the API server's WebSocket to
// SPDY translation and over plain SPDY), attach, port-forward (over the WebSocket tunnel and
// plain SPDY) and the node proxy's stats. The runtime is the scripted test runtime, whose
// exec runs commands on this host and whose port-forward reaches local TCP ports.

import "reflect-metadata";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startControlPlane } from "../harness/control_plane.ts";
import { freePort } from "../harness/ports.ts";
import {
  kubectl,
  portForward,
  runningPod,
  startKubeletWorld,
} from "../support/kubelet_api_world.ts";
import { eventually } from "../support/world.ts";

const NODE = "api-node";
const SPDY = {
  KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false",
  KUBECTL_PORT_FORWARD_WEBSOCKETS: "false",
};
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

Deno.test({
  name: "kubelet API: logs, exec, attach, port-forward and stats through kubectl",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane();
    const httpPort = freePort();
    const echoPort = freePort();
    const big = crypto.getRandomValues(new Uint8Array(64 * 1024)).slice();
    const bigBody = new Uint8Array(32 * 1024 * 1024);
    for (let i = 0; i < bigBody.length; i += big.length) bigBody.set(big, i);
    const http = Deno.serve({ hostname: "127.0.0.1", port: httpPort, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/big") return new Response(bigBody);
      return new Response(`hello from the pod, path ${path}\n`);
    });
    const echo = Deno.listen({ hostname: "127.0.0.1", port: echoPort });
    void (async () => {
      for await (const conn of echo) void conn.readable.pipeTo(conn.writable).catch(() => {});
    })();
    const world = await startKubeletWorld(cp, NODE, {
      runtime: { portMap: { 80: httpPort, 7: echoPort }, dockerReachable: true },
    });
    const k = (args: string[], opts: Parameters<typeof kubectl>[2] = {}) => kubectl(cp, args, opts);
    try {
      await runningPod(world, "p1", [
        {
          name: "vm",
          image: "registry.example/macos:15",
          resources: { requests: { cpu: "1", memory: "2Gi" } },
        },
        { name: "side", image: "busybox" },
      ]);
      const vmLog = world.runtime.log("default", "p1", "vm");
      const now = Date.now();
      vmLog.append("old-1", new Date(now - 2 * 3600_000));
      vmLog.append("old-2", new Date(now - 2 * 3600_000 + 1));
      vmLog.append("new-1", new Date(now - 10_000));
      vmLog.append("new-2", new Date(now - 5_000));
      world.runtime.log("default", "p1", "vm", true).append("before the restart");

      await t.step(
        "kubectl logs: all, --tail, --timestamps, --since, --limit-bytes, --previous",
        async () => {
          assert.equal(
            (await k(["logs", "p1", "-c", "vm"])).stdout,
            "old-1\nold-2\nnew-1\nnew-2\n",
          );
          assert.equal((await k(["logs", "p1", "-c", "vm", "--tail=2"])).stdout, "new-1\nnew-2\n");
          const ts = await k(["logs", "p1", "-c", "vm", "--timestamps", "--tail=1"]);
          assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z new-2\n$/);
          assert.equal(
            new Date(ts.stdout.split(" ")[0]).getTime(),
            vmLog.lines[3].time.getTime(),
          );
          assert.equal(
            (await k(["logs", "p1", "-c", "vm", "--since=1h"])).stdout,
            "new-1\nnew-2\n",
          );
          const sinceTime = new Date(now - 7_000).toISOString();
          assert.equal(
            (await k(["logs", "p1", "-c", "vm", `--since-time=${sinceTime}`])).stdout,
            "new-2\n",
          );
          assert.equal(
            (await k(["logs", "p1", "-c", "vm", "--limit-bytes=8"])).stdout,
            "old-1\nol",
          );
          assert.equal(
            (await k(["logs", "p1", "-c", "vm", "--previous"])).stdout,
            "before the restart\n",
          );
          const none = await k(["logs", "p1", "-c", "side", "--previous"]);
          assert.notEqual(none.code, 0);
          assert.match(none.stderr, /previous terminated container "side"/);
        },
      );

      await t.step("kubectl logs -f: new lines arrive while following", async () => {
        const child = new Deno.Command(cp.kubectl, {
          args: ["--kubeconfig", cp.adminKubeconfig, "logs", "-f", "p1", "-c", "vm", "--tail=1"],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let seen = "";
        const until = async (text: string) => {
          while (!seen.includes(text)) {
            const { value, done } = await reader.read();
            if (done) throw new Error(`follow ended before ${text}: ${seen}`);
            seen += value;
          }
        };
        await until("new-2\n");
        vmLog.append("follow-1");
        await until("follow-1\n");
        vmLog.append("follow-2");
        await until("follow-2\n");
        assert.equal(seen, "new-2\nfollow-1\nfollow-2\n");
        child.kill();
        await child.status;
        await reader.cancel().catch(() => {});
        // The agent notices that the follower left.
        await eventually("log follower gone", () => /kind="logs"\} 0/.test(metricsText(world)));
      });

      for (
        const [how, env] of [["WebSocket via the API server", undefined], ["SPDY", SPDY]] as const
      ) {
        await t.step(
          `kubectl exec (${how}): stdout and stderr apart, exit codes 0/1/3/127`,
          async () => {
            const ok = await k([
              "exec",
              "p1",
              "-c",
              "vm",
              "--",
              "sh",
              "-c",
              "echo out; echo err >&2",
            ], { env });
            assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "out\n", "err\n"]);
            for (const code of [1, 3]) {
              const r = await k(["exec", "p1", "--", "sh", "-c", `echo to-stdout; exit ${code}`], {
                env,
              });
              assert.equal(r.code, code);
              assert.equal(r.stdout, "to-stdout\n");
              assert.match(r.stderr, new RegExp(`command terminated with exit code ${code}`));
            }
            const missing = await k(["exec", "p1", "--", "no-such-command"], { env });
            assert.equal(missing.code, 127);
            assert.match(missing.stderr, /no-such-command: not found/);
          },
        );

        await t.step(
          `kubectl exec -i (${how}): 4 MiB of stdin through the command and back`,
          async () => {
            const input = crypto.getRandomValues(new Uint8Array(64 * 1024));
            const data = new Uint8Array(4 * 1024 * 1024);
            for (let i = 0; i < data.length; i += input.length) data.set(input, i);
            const r = await k(["exec", "-i", "p1", "--", "cat"], { stdin: data, env });
            assert.equal(r.code, 0);
            assert.equal(r.bytes.byteLength, data.byteLength);
            assert.equal(sha256(r.bytes), sha256(data));
          },
        );
      }

      await t.step("kubectl exec -it: the command gets a terminal of kubectl's size", async () => {
        const inner = `${cp.kubectl} --kubeconfig ${cp.adminKubeconfig} exec -it p1 -- ` +
          `sh -c 'stty size; test -t 0 && echo is-a-tty; exit 5'`;
        const out = await new Deno.Command("script", {
          args: ["-qfec", `stty cols 91 rows 33; ${inner}`, "/dev/null"],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 5, text);
        assert.match(text, /33 91\r\n/);
        assert.match(text, /is-a-tty\r\n/);
        assert.ok(world.runtime.resizes.some((s) => s.width === 91 && s.height === 33));
        assert.ok(world.runtime.execs.some((e) => e.tty && e.exitCode === 5));
      });

      await t.step(
        "kubectl attach -i: input reaches the console, its output comes back",
        async () => {
          const r = await k(["attach", "-i", "p1", "-c", "vm"], { stdin: "hello\nworld\n" });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, "console: hello\nconsole: world\n");
          assert.deepEqual(vmLog.lines.slice(-2).map((l) => l.text), [
            "console: hello",
            "console: world",
          ]);
        },
      );

      for (const [how, env] of [["WebSocket tunnel", undefined], ["SPDY", SPDY]] as const) {
        await t.step(
          `kubectl port-forward (${how}): HTTP, a 32 MiB download, two ports, parallel`,
          async () => {
            const pf = await portForward(cp, "p1", [80, 7], env);
            try {
              const base = `http://127.0.0.1:${pf.local[80]}`;
              assert.equal(
                await (await fetch(`${base}/x`)).text(),
                "hello from the pod, path /x\n",
              );
              const downloads = await Promise.all([1, 2, 3].map(async () => {
                const res = await fetch(`${base}/big`);
                return new Uint8Array(await res.arrayBuffer());
              }));
              for (const d of downloads) {
                assert.equal(d.byteLength, bigBody.byteLength);
                assert.equal(sha256(d), sha256(bigBody));
              }
              const conns = await Promise.all(
                [1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port: pf.local[7] })),
              );
              await Promise.all(conns.map(async (c, i) => {
                const msg = new TextEncoder().encode(`echo ${i}\n`);
                await c.write(msg);
                const buf = new Uint8Array(msg.length);
                let got = 0;
                while (got < msg.length) got += (await c.read(buf.subarray(got))) ?? msg.length;
                assert.equal(new TextDecoder().decode(buf), `echo ${i}\n`);
                c.close();
              }));
            } finally {
              await pf.stop();
            }
            const ports = world.runtime.forwards.map((f) => f.port);
            assert.ok(ports.includes(80) && ports.includes(7));
          },
        );
      }

      await t.step(
        "node proxy: /stats/summary, /metrics/resource, /pods, /healthz, /metrics",
        async () => {
          const raw = (path: string) => k(["get", "--raw", `/api/v1/nodes/${NODE}/proxy${path}`]);
          const summary = JSON.parse((await raw("/stats/summary")).stdout);
          assert.equal(summary.node.nodeName, NODE);
          assert.ok(summary.node.memory.workingSetBytes > 0);
          const pod = summary.pods.find((p: { podRef: { name: string } }) =>
            p.podRef.name === "p1"
          );
          assert.equal(pod.containers.length, 2);
          assert.equal(pod.cpu.usageNanoCores, 500_000_000);
          assert.equal(pod.memory.workingSetBytes, 512 * 2 ** 20);
          const metrics = (await raw("/metrics/resource")).stdout;
          assert.match(
            metrics,
            /^container_memory_working_set_bytes\{container="vm",namespace="default",pod="p1"\} 268435456 \d+$/m,
          );
          assert.match(metrics, /^node_cpu_usage_seconds_total \d/m);
          assert.equal((await raw("/healthz")).stdout, "ok");
          const pods = JSON.parse((await raw("/pods")).stdout);
          assert.deepEqual(pods.items.map((p: { metadata: { name: string } }) => p.metadata.name), [
            "p1",
          ]);
          const own = (await raw("/metrics")).stdout;
          assert.match(
            own,
            /^vzk_kubelet_api_requests_total\{route="exec",method="POST",code="101"\} \d+$/m,
          );
          assert.match(own, /^vzk_pods_running 1$/m);
        },
      );

      await t.step("unknown pod or container: 404 with a Status naming it", async () => {
        const pod = await k([
          "get",
          "--raw",
          `/api/v1/nodes/${NODE}/proxy/containerLogs/default/nope/vm`,
        ]);
        assert.notEqual(pod.code, 0);
        assert.match(pod.stderr, /NotFound.*pod "default\/nope" not found/);
        const container = await k([
          "get",
          "--raw",
          `/api/v1/nodes/${NODE}/proxy/containerLogs/default/p1/nope`,
        ]);
        assert.match(container.stderr, /NotFound.*container "nope" not found in pod "default\/p1"/);
      });
    } finally {
      await world.stop();
      await http.shutdown();
      echo.close();
      await cp.stop();
    }
  },
});

function metricsText(world: { agent: { server: { metrics: { render(): string } } } }): string {
  return world.agent.server.metrics.render();
}
