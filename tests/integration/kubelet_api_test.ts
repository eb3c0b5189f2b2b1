// The kubelet API through the real kubectl and the real kube-apiserver (which reaches the
// agent with its kubelet-client certificate): logs, exec, attach, port-forward and the node
// proxy's stats. With Kubernetes 1.37's default (ExtendWebSocketsToKubelet) kubectl's WebSocket
// streams pass through the API server to the agent, which declares the feature; kubectl's SPDY
// is proxied as ever; a node that declares nothing, or an API server with the gate off, gets
// them translated to SPDY. kube-apiserver's apiserver_websocket_streaming_requests_total says
// which path was taken. The runtime is the scripted test runtime, whose exec runs commands on
// this host and whose port-forward reaches local TCP ports.

import "reflect-metadata";
import assert from "node:assert/strict";
import { startControlPlane } from "../harness/control_plane.ts";
import { kubectl, runningPod, startKubeletWorld } from "../support/kubelet_api_world.ts";
import { startPodServers, streamSteps, terminalSteps } from "../support/kubelet_stream_steps.ts";
import { agentUpgrades, apiServerPaths, assertStreamPaths } from "../support/stream_paths.ts";
import { adminClients, eventually } from "../support/world.ts";

const NODE = "api-node";
const PLAIN_NODE = "api-node-plain";

Deno.test({
  name: "kubelet API: logs, exec, attach, port-forward and stats through kubectl",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane();
    const pod = startPodServers();
    const world = await startKubeletWorld(cp, NODE, {
      runtime: { portMap: pod.portMap, dockerReachable: true },
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

      for (const transport of ["WebSocket", "SPDY"] as const) {
        await streamSteps(t, world, transport, "p1", pod);
      }
      await terminalSteps(t, world, "p1");

      await t.step(
        "the API server passed kubectl's WebSocket streams straight to the agent",
        async () => {
          assertStreamPaths("proxied", await cp.apiServerMetrics(), metricsText(world));
          const upgrades = agentUpgrades(metricsText(world));
          // kubectl's own SPDY (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) still arrives as SPDY.
          assert.ok(upgrades.exec.spdy > 0 && upgrades.portforward.spdy > 0);
        },
      );

      await t.step("a node that declares nothing gets streams translated to SPDY", async () => {
        const plain = await startKubeletWorld(cp, PLAIN_NODE, {
          declaredFeatures: [],
          runtime: { portMap: pod.portMap },
        });
        try {
          const node = await adminClients(cp).core.readNode({ name: PLAIN_NODE });
          assert.equal(node.status?.declaredFeatures, undefined);
          await runningPod(plain, "plain");
          const before = apiServerPaths(await cp.apiServerMetrics()).exec;
          const r = await k(["exec", "plain", "--", "sh", "-c", "echo translated"]);
          assert.deepEqual([r.code, r.stdout], [0, "translated\n"], r.stderr);
          const after = apiServerPaths(await cp.apiServerMetrics()).exec;
          assert.deepEqual(after, { ...before, translated: before.translated + 1 });
          assert.deepEqual(agentUpgrades(metricsText(plain)).exec, { spdy: 1, websocket: 0 });
        } finally {
          await plain.stop();
        }
      });

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
      await pod.stop();
      await cp.stop();
    }
  },
});

Deno.test({
  name: "kubelet API behind an API server with ExtendWebSocketsToKubelet=false: streams via SPDY",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane({ featureGates: { ExtendWebSocketsToKubelet: false } });
    const pod = startPodServers();
    const world = await startKubeletWorld(cp, NODE, { runtime: { portMap: pod.portMap } });
    try {
      await runningPod(world, "p1");
      await streamSteps(t, world, "WebSocket", "p1", pod);
      await terminalSteps(t, world, "p1");
      await t.step("the API server translated every stream; the agent saw only SPDY", async () => {
        assertStreamPaths("translated", await cp.apiServerMetrics(), metricsText(world));
      });
    } finally {
      await world.stop();
      await pod.stop();
      await cp.stop();
    }
  },
});

function metricsText(world: { agent: { server: { metrics: { render(): string } } } }): string {
  return world.agent.server.metrics.render();
}
