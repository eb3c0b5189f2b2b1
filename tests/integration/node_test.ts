// The node against a real control plane, with node credentials under NodeRestriction:
// registration fields, declared features, conditions, lease renewal, re-registration,
// conditions of others.

import "reflect-metadata";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../harness/control_plane.ts";
import { startAgent } from "../../src/agent.ts";
import { strategicMerge } from "../../src/kube/client.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { ScriptedRuntime } from "../support/scripted_runtime.ts";
import { adminClients, eventually, nodeConfig } from "../support/world.ts";

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });

/** Taints other than the ones the node lifecycle controller manages (not-ready, ...). */
const ownTaints = (node: k8s.V1Node) =>
  (node.spec?.taints ?? []).filter((x) => !x.key.startsWith("node.kubernetes.io/"));

Deno.test({
  name: "node: registration, status, lease and re-registration under NodeRestriction",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane();
    const admin = adminClients(cp);
    const agents: { stop(): Promise<void> }[] = [];
    try {
      const config = await nodeConfig(cp, "node-a", [], { VKUBELET_POD_IP: "127.0.0.1" });
      const runtime = new ScriptedRuntime({ maxPods: 2 });
      const agent = await startAgent(config, {
        log,
        runtime: () => runtime,
        statusIntervalMs: 1_000,
      });
      agents.push(agent);

      await t.step("node object carries labels, taint, capacity, addresses, info", async () => {
        const node = await admin.core.readNode({ name: "node-a" });
        const labels = node.metadata?.labels ?? {};
        assert.equal(labels["type"], "virtual-kubelet");
        assert.equal(labels["kubernetes.io/hostname"], "node-a");
        assert.equal(labels["kubernetes.io/os"], Deno.build.os === "darwin" ? "darwin" : "linux");
        assert.equal(
          labels["kubernetes.io/arch"],
          Deno.build.arch === "aarch64" ? "arm64" : "amd64",
        );
        assert.equal(labels["node.kubernetes.io/exclude-from-external-load-balancers"], "true");
        // NodeRestriction forbids a node from labelling itself with kubernetes.io/role.
        assert.equal(labels["kubernetes.io/role"], undefined);
        assert.deepEqual(
          ownTaints(node).map((x) => `${x.key}=${x.value}:${x.effect}`),
          ["virtual-kubelet.io/provider=macos-vz:NoSchedule"],
        );
        const cap = node.status?.capacity ?? {};
        assert.equal(cap.pods, "2");
        assert.equal(Number(cap.cpu), navigator.hardwareConcurrency);
        assert.match(cap.memory, /^\d+Ki$/);
        assert.match(cap["ephemeral-storage"], /^\d+Ki$/);
        assert.deepEqual(node.status?.allocatable, cap);
        assert.deepEqual(node.status?.addresses?.map((a) => ({ ...a })), [
          { type: "InternalIP", address: "127.0.0.1" },
          { type: "Hostname", address: "node-a" },
        ]);
        assert.equal(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, config.kubeletPort);
        const info = node.status?.nodeInfo;
        assert.equal(info?.operatingSystem, Deno.build.os === "darwin" ? "darwin" : "linux");
        assert.equal(info?.containerRuntimeVersion, "scripted://1.0");
        assert.match(info?.kubeletVersion ?? "", /^v\d+\.\d+\.\d+/);
        assert.ok(info?.kernelVersion);
        assert.ok(info?.osImage);
        // Kept by the API server (NodeDeclaredFeatures is GA in 1.37): what kube-apiserver
        // reads to pass WebSocket streams straight to this node.
        assert.deepEqual(node.status?.declaredFeatures, ["ExtendWebSocketsToKubelet"]);
      });

      await t.step("conditions: Ready and the pressure conditions with reasons", async () => {
        const node = await admin.core.readNode({ name: "node-a" });
        const byType = Object.fromEntries(
          (node.status?.conditions ?? []).map((c) => [c.type, c]),
        );
        assert.equal(byType.Ready?.status, "True");
        assert.equal(byType.Ready?.reason, "KubeletReady");
        assert.equal(byType.MemoryPressure?.status, "False");
        assert.equal(byType.DiskPressure?.status, "False");
        assert.match(byType.DiskPressure?.message ?? "", /free in/);
        assert.equal(byType.PIDPressure?.status, "False");
        assert.equal(byType.NetworkUnavailable?.status, "False");
        for (const c of Object.values(byType)) {
          assert.ok(c.reason && c.message && c.lastHeartbeatTime && c.lastTransitionTime, c.type);
        }
        // kubectl sees a Ready node.
        const out = await new Deno.Command(cp.kubectl, {
          args: ["--kubeconfig", cp.adminKubeconfig, "get", "node", "node-a", "--no-headers"],
          stdout: "piped",
        }).output();
        assert.match(new TextDecoder().decode(out.stdout), /node-a\s+Ready/);
      });

      await t.step("lease in kube-node-lease is renewed", async () => {
        const first = await eventually(
          "lease",
          () =>
            admin.coordination.readNamespacedLease({
              name: "node-a",
              namespace: "kube-node-lease",
            }),
        );
        assert.equal(first.spec?.holderIdentity, "node-a");
        assert.equal(first.spec?.leaseDurationSeconds, 40);
        assert.equal(first.metadata?.ownerReferences?.[0]?.kind, "Node");
        const t0 = new Date(first.spec!.renewTime!).getTime();
        await eventually("lease renewal", async () => {
          const l = await admin.coordination.readNamespacedLease({
            name: "node-a",
            namespace: "kube-node-lease",
          });
          return new Date(l.spec!.renewTime!).getTime() > t0;
        }, 15_000);
      });

      await t.step("conditions owned by other controllers survive status updates", async () => {
        await admin.core.patchNodeStatus({
          name: "node-a",
          body: {
            status: {
              conditions: [{
                type: "ExampleDriverHealthy",
                status: "True",
                reason: "Checked",
                message: "written by someone else",
              }],
            },
          },
        }, strategicMerge);
        // Force several status writes from the agent.
        await agent.node.syncStatus(true);
        await agent.node.syncStatus(true);
        const node = await admin.core.readNode({ name: "node-a" });
        const types = (node.status?.conditions ?? []).map((c) => c.type);
        assert.ok(types.includes("ExampleDriverHealthy"), types.join(","));
        assert.ok(types.includes("Ready"));
      });

      await t.step("a deleted node is registered again", async () => {
        const before = await admin.core.readNode({ name: "node-a" });
        await admin.core.deleteNode({ name: "node-a" });
        const after = await eventually("re-registration", async () => {
          try {
            const n = await admin.core.readNode({ name: "node-a" });
            return n.metadata?.uid !== before.metadata?.uid ? n : undefined;
          } catch {
            return undefined;
          }
        }, 20_000);
        assert.equal(after.metadata?.labels?.["type"], "virtual-kubelet");
        await eventually(
          "Ready after re-registration",
          () =>
            admin.core.readNode({ name: "node-a" }).then((n) =>
              n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
            ),
        );
      });

      await t.step("credentials of one node cannot register another", async () => {
        const config = await nodeConfig(cp, "node-b", [
          "--nodename",
          "node-c",
          "--startup-timeout",
          "3",
        ]);
        await assert.rejects(
          startAgent(config, { log, runtime: () => new ScriptedRuntime() }),
          /startup-timeout/,
        );
        await assert.rejects(
          admin.core.readNode({ name: "node-c" }),
          (e: unknown) => e instanceof k8s.ApiException && e.code === 404,
        );
      });

      await t.step("--disable-taint registers without the taint", async () => {
        const config = await nodeConfig(cp, "node-d", ["--disable-taint"]);
        const a = await startAgent(config, { log, runtime: () => new ScriptedRuntime() });
        agents.push(a);
        const node = await admin.core.readNode({ name: "node-d" });
        assert.deepEqual(ownTaints(node), []);
      });
    } finally {
      for (const a of agents) await a.stop();
      await cp.stop();
    }
  },
});
