// The pod controller against a real control plane with node credentials: create, status,
// events, update, deletion with grace periods, admission rejections, agent restart; the
// scripted test runtime, as these are about the controller. Then in-place resize with the real
// runtime (over a scripted VM backend), whose status answers it.

import "reflect-metadata";
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../harness/control_plane.ts";
import { type Agent, startAgent } from "../../src/agent.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { ScriptedRuntime } from "../support/scripted_runtime.ts";
import { adminClients, eventually, nodeConfig, podEvents, testPod } from "../support/world.ts";
import { kubectl } from "../support/kubelet_api_world.ts";
import { scriptedPodRuntime } from "../support/scripted_backend.ts";
import { clusterAccess } from "../../src/kube/objects.ts";

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });
const NODE = "pods-node";

Deno.test({
  name: "pods: lifecycle through the controller under NodeRestriction",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane();
    const admin = adminClients(cp);
    const runtime = new ScriptedRuntime({ stopDelayMs: 1_500, dockerReachable: false });
    const config = await nodeConfig(cp, NODE, ["--full-resync-period", "2"]);
    let agent: Agent | undefined;
    const read = (name: string) => admin.core.readNamespacedPod({ name, namespace: "default" });
    const running = (name: string) =>
      eventually(`${name} Running`, async () => {
        const p = await read(name);
        return p.status?.phase === "Running" && p.status.conditions?.some((c) =>
          c.type === "Ready" && c.status === "True"
        ) && p;
      });
    const gone = (name: string, ms = 30_000) =>
      eventually(`${name} removed`, () => read(name).then(() => false, () => true), ms);

    try {
      // A pod bound before the agent starts is picked up.
      await admin.core.createNamespacedPod({ namespace: "default", body: testPod("early", NODE) });
      agent = await startAgent(config, { log, runtime: () => runtime });

      await t.step("a pod bound before start runs, with status and IPs", async () => {
        const pod = await running("early");
        assert.equal(pod.status?.podIP, "10.99.0.2");
        assert.ok(pod.status?.hostIP, "hostIP set");
        assert.ok(pod.status?.startTime);
        const cs = pod.status?.containerStatuses?.[0];
        assert.equal(cs?.name, "vm");
        assert.equal(cs?.ready, true);
        assert.ok(cs?.state?.running);
        assert.equal(
          runtime.calls.filter((c) => c.op === "create" && c.key === "default/early").length,
          1,
        );
        // The scheduler's condition survives our status patches.
        assert.ok(pod.status?.conditions?.some((c) => c.type === "Ready"));
      });

      await t.step("a scheduled pod (tolerating the taint) lands here and runs", async () => {
        await admin.core.createNamespacedPod({
          namespace: "default",
          body: testPod("scheduled", NODE, { scheduled: true }),
        });
        const pod = await running("scheduled");
        assert.equal(pod.spec?.nodeName, NODE);
        assert.ok(
          pod.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "True"),
        );
      });

      await t.step("status is written only when it changes", async () => {
        const before = (await read("early")).metadata?.resourceVersion;
        await new Promise((r) => setTimeout(r, 5_000)); // two full resyncs
        assert.equal((await read("early")).metadata?.resourceVersion, before);
      });

      await t.step("an update reaches the runtime", async () => {
        await admin.core.patchNamespacedPod({
          name: "early",
          namespace: "default",
          body: [{ op: "add", path: "/spec/activeDeadlineSeconds", value: 3600 }],
        });
        await eventually(
          "update call",
          () => runtime.calls.some((c) => c.op === "update" && c.key === "default/early"),
        );
      });

      await t.step("deletion honours the grace period and removes the pod", async () => {
        const t0 = Date.now();
        await admin.core.deleteNamespacedPod({
          name: "early",
          namespace: "default",
          gracePeriodSeconds: 7,
        });
        await gone("early");
        const elapsed = Date.now() - t0;
        const call = runtime.calls.find((c) => c.op === "delete" && c.key === "default/early");
        assert.equal(call?.grace, 7);
        assert.ok(elapsed >= 1_500, `removed after ${elapsed} ms, before the runtime stopped`);
        assert.equal(runtime.hasPod("default", "early"), false);
        const events = await podEvents(admin, "default", "early");
        assert.ok(
          events.some((e) =>
            e.reason === "Killing" && /Stopping container vm/.test(e.message ?? "")
          ),
        );
      });

      await t.step("a short grace period cuts the runtime's stop short", async () => {
        await admin.core.createNamespacedPod({
          namespace: "default",
          body: testPod("short", NODE, { grace: 1 }),
        });
        await running("short");
        const t0 = Date.now();
        await admin.core.deleteNamespacedPod({ name: "short", namespace: "default" });
        await gone("short");
        const call = runtime.calls.find((c) => c.op === "delete" && c.key === "default/short");
        assert.equal(call?.grace, 1);
        assert.ok(Date.now() - t0 < 1_500 + 3_000);
      });

      await t.step("pods this node cannot run fail with a message naming the field", async () => {
        const cases: [string, k8s.V1Container[], RegExp][] = [
          [
            "half-cpu",
            [{ name: "vm", image: "img", resources: { requests: { cpu: "500m" } } }],
            /spec\.containers\[0\] \(vm\)\.resources\.requests\.cpu: "500m" is not a whole number/,
          ],
          [
            "huge-mem",
            [{ name: "vm", image: "img", resources: { requests: { memory: "64Gi" } } }],
            /resources\.requests\.memory: 64Gi is outside/,
          ],
          [
            "tiny-mem",
            [{ name: "vm", image: "img", resources: { requests: { memory: "512Mi" } } }],
            /resources\.requests\.memory: 512Mi is outside/,
          ],
          [
            "sidecar",
            [{ name: "vm", image: "img" }, { name: "logs", image: "busybox" }],
            /sidecar containers \(logs\) need Docker, which does not answer/,
          ],
        ];
        for (const [name, containers] of cases) {
          await admin.core.createNamespacedPod({
            namespace: "default",
            body: testPod(name, NODE, { containers }),
          });
        }
        for (const [name, , pattern] of cases) {
          const pod = await eventually(
            `${name} Failed`,
            () => read(name).then((p) => p.status?.phase === "Failed" && p),
          );
          assert.match(pod.status?.message ?? "", pattern);
          assert.equal(pod.status?.reason, "AdmissionFailed");
          const events = await eventually(`${name} event`, async () => {
            const ev = await podEvents(admin, "default", name);
            return ev.some((e) => e.type === "Warning" && e.reason === "AdmissionFailed") && ev;
          });
          assert.ok(events.length > 0);
          assert.equal(runtime.hasPod("default", name), false);
        }
        // The agent still serves other pods.
        await running("scheduled");
      });

      await t.step(
        "after a restart, existing pods are kept, new ones run, terminal ones stay",
        async () => {
          await agent!.stop();
          agent = undefined;
          const createsBefore = runtime.calls.filter((c) => c.op === "create").length;
          await admin.core.createNamespacedPod({
            namespace: "default",
            body: testPod("while-down", NODE),
          });
          agent = await startAgent(config, { log, runtime: () => runtime });
          await running("while-down");
          await running("scheduled");
          const creates = runtime.calls.slice().filter((c) => c.op === "create");
          // Only the new pod was created; the running one was kept; failed ones not retried.
          assert.deepEqual(creates.slice(createsBefore).map((c) => c.key), ["default/while-down"]);
          assert.equal((await read("half-cpu")).status?.phase, "Failed");
        },
      );

      await t.step("a pod force-deleted from the API is stopped in the runtime", async () => {
        await admin.core.deleteNamespacedPod({
          name: "while-down",
          namespace: "default",
          gracePeriodSeconds: 0,
        });
        await eventually(
          "runtime forgets while-down",
          () => !runtime.hasPod("default", "while-down"),
        );
      });
    } finally {
      await agent?.stop();
      await cp.stop();
    }
  },
});

Deno.test({
  name: "pods: in-place resize is answered PodResizePending/Infeasible (the real runtime)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const cp = await startControlPlane();
    const admin = adminClients(cp);
    const config = await nodeConfig(cp, "resize-node");
    const stateDir = await Deno.makeTempDir({ prefix: "vzk-resize-" });
    let agent: Agent | undefined;
    const read = (name: string) => admin.core.readNamespacedPod({ name, namespace: "default" });
    const resize = (name: string, patch: unknown) =>
      kubectl(cp, ["patch", "pod", name, "--subresource", "resize", "-p", JSON.stringify(patch)]);
    const vmCpu = (cpu: string) => ({
      spec: { containers: [{ name: "vm", resources: { requests: { cpu, memory: "2Gi" } } }] },
    });
    try {
      agent = await startAgent(config, {
        log,
        runtime: ({ events, clients }) =>
          scriptedPodRuntime(events, log, stateDir, clusterAccess(clients)),
      });
      await admin.core.createNamespacedPod({
        namespace: "default",
        body: testPod("sized", "resize-node"),
      });
      const pod = await eventually("sized Ready", async () => {
        const p = await read("sized");
        return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && p;
      });

      await t.step("status says which generation it describes and what the VM runs with", () => {
        assert.equal(pod.metadata?.generation, 1);
        assert.equal(pod.status?.observedGeneration, 1);
        for (const type of ["PodReadyToStartContainers", "Initialized", "ContainersReady"]) {
          const owned: k8s.V1PodCondition | undefined = pod.status?.conditions?.find((c) =>
            c.type === type
          );
          assert.equal(owned?.observedGeneration, 1, type);
        }
        const vm = pod.status?.containerStatuses?.[0];
        assert.deepEqual(vm?.resources, { requests: { cpu: "1", memory: "2Gi" } });
        assert.deepEqual(vm?.allocatedResources, { cpu: "1", memory: "2Gi" });
      });

      await t.step("a resize of the VM is Infeasible; the VM keeps its size", async () => {
        const r = await resize("sized", vmCpu("2"));
        assert.equal(r.code, 0, r.stderr);
        const p = await eventually("PodResizePending", async () => {
          const p = await read("sized");
          return p.status?.observedGeneration === 2 && p;
        });
        const pending = p.status?.conditions?.find((c) => c.type === "PodResizePending");
        assert.equal(pending?.status, "True");
        assert.equal(pending?.reason, "Infeasible");
        assert.equal(pending?.observedGeneration, 2);
        assert.match(pending?.message ?? "", /container "vm" is a virtual machine/);
        assert.equal(p.status?.containerStatuses?.[0].resources?.requests?.cpu, "1");
        assert.equal(p.status?.phase, "Running");
      });

      await t.step("asking for the old size again clears the condition", async () => {
        const r = await resize("sized", vmCpu("1"));
        assert.equal(r.code, 0, r.stderr);
        const p = await eventually("resize no longer pending", async () => {
          const p = await read("sized");
          return p.status?.observedGeneration === 3 && p;
        });
        assert.equal(p.status?.conditions?.find((c) => c.type === "PodResizePending"), undefined);
      });

      await t.step("pod-level resizes are refused: the node does not declare them", async () => {
        const body = testPod("pod-level", "resize-node");
        body.spec!.resources = { requests: { cpu: "1", memory: "2Gi" } };
        await admin.core.createNamespacedPod({ namespace: "default", body });
        await eventually(
          "pod-level running",
          async () => (await read("pod-level")).status?.phase === "Running",
        );
        const r = await resize("pod-level", { spec: { resources: { requests: { cpu: "2" } } } });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /InPlacePodLevelResourcesVerticalScaling/);
      });
    } finally {
      await agent?.stop();
      await cp.stop();
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
