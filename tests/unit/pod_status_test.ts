// The pod status the runtime reports (src/runtime/pod_status.ts over container_state.ts):
// the kubelet's phase rules, container statuses with lastState and restartCount, and the
// invariant that every condition's reason and message match its status, checked over every
// combination of container states the lifecycle can produce.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  type ContainerState,
  containerStatus,
  countRestart,
  newContainerState,
  toRunning,
  toTerminated,
  toWaiting,
} from "../../src/runtime/container_state.ts";
import { buildPodStatus, podPhase, type PodView } from "../../src/runtime/pod_status.ts";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:01:00Z");

function pod(restartPolicy = "Always", names = ["vm"], init: k8s.V1Container[] = []): k8s.V1Pod {
  return {
    metadata: { name: "p", namespace: "ns", uid: "u" },
    spec: {
      restartPolicy,
      containers: names.map((name) => ({ name, image: `img/${name}` })),
      initContainers: init,
    },
  };
}

/** Every state one container can be in, named by how it got there. */
function states(name: string): [string, ContainerState][] {
  const c = { name, image: `img/${name}` };
  const fresh = () => newContainerState(c);
  const running = (started: boolean) => {
    const s = fresh();
    toRunning(s, "id://1", t0);
    s.started = s.ready = started;
    return s;
  };
  const exited = (code: number) => {
    const s = running(true);
    toTerminated(s, { exitCode: code, reason: code ? "Error" : "Completed", finishedAt: t1 });
    return s;
  };
  const backingOff = (code: number) => {
    const s = exited(code);
    toWaiting(s, "CrashLoopBackOff", "back-off 10s");
    return s;
  };
  const restarted = () => {
    const s = backingOff(137);
    countRestart(s);
    toRunning(s, "id://2", t1);
    s.started = s.ready = true;
    return s;
  };
  const pulling = () => {
    const s = fresh();
    toWaiting(s, "ImagePullBackOff", "no such image");
    return s;
  };
  return [
    ["new", fresh()],
    ["pulling", pulling()],
    ["booting", running(false)],
    ["ready", running(true)],
    ["succeeded", exited(0)],
    ["failed", exited(1)],
    ["crash-looping", backingOff(1)],
    ["restarted", restarted()],
  ];
}

const view = (p: k8s.V1Pod, containers: ContainerState[], init: ContainerState[] = []) => ({
  pod: p,
  acceptedAt: t0,
  init,
  containers,
  sandboxReady: containers[0].stage !== "waiting",
} satisfies PodView);

Deno.test("pod status: container status carries lastState, restartCount and started", () => {
  const [, s] = states("vm").find(([n]) => n === "restarted")!;
  const cs = containerStatus(s);
  assert.equal(cs.restartCount, 1);
  assert.equal(cs.started, true);
  assert.deepEqual(cs.state, { running: { startedAt: t1 } });
  assert.equal(cs.lastState?.terminated?.exitCode, 137);
  assert.equal(cs.lastState?.terminated?.startedAt, t0);
  assert.equal(cs.lastState?.terminated?.finishedAt, t1);
  assert.equal(cs.lastState?.terminated?.containerID, "id://1");
  const fresh = containerStatus(newContainerState({ name: "vm" }));
  assert.deepEqual(fresh.lastState, {});
  assert.deepEqual(fresh.state, { waiting: { reason: "ContainerCreating", message: undefined } });
});

Deno.test("pod status: phase follows the kubelet's rules", () => {
  const s = Object.fromEntries(states("vm"));
  const phase = (policy: string, name: string) => podPhase(view(pod(policy), [s[name]]));
  assert.equal(phase("Always", "new"), "Pending");
  assert.equal(phase("Always", "booting"), "Running");
  assert.equal(phase("Always", "succeeded"), "Running", "Always: about to restart");
  assert.equal(phase("Always", "crash-looping"), "Running");
  assert.equal(phase("OnFailure", "succeeded"), "Succeeded");
  assert.equal(phase("OnFailure", "failed"), "Running", "OnFailure: restarting");
  assert.equal(phase("Never", "failed"), "Failed");
  assert.equal(phase("Never", "succeeded"), "Succeeded");
  // Two containers: one still waiting keeps the pod Pending; one running makes it Running.
  const two = pod("Never", ["vm", "side"]);
  const side = Object.fromEntries(states("side"));
  assert.equal(podPhase(view(two, [s.ready, side.new])), "Pending");
  assert.equal(podPhase(view(two, [s.succeeded, side.ready])), "Running");
  assert.equal(podPhase(view(two, [s.succeeded, side.failed])), "Failed");
  // An init container that failed under Never fails the pod.
  const init = Object.fromEntries(states("init"));
  const withInit = pod("Never", ["vm"], [{ name: "init" }]);
  assert.equal(podPhase(view(withInit, [s.new], [init.failed])), "Failed");
  assert.equal(podPhase(view(withInit, [s.new], [init.ready])), "Pending");
  assert.equal(
    podPhase({ ...view(pod(), [s.ready]), failed: { reason: "R", message: "m" } }),
    "Failed",
  );
});

Deno.test("pod status: every condition's reason and message match its status", () => {
  let checked = 0;
  const twoPods = ["Always", "OnFailure", "Never"].map((p) =>
    pod(p, ["vm", "side"], [{ name: "init" }])
  );
  for (const p of twoPods) {
    for (const [vmName, vm] of states("vm")) {
      for (const [sideName, side] of states("side")) {
        for (const [initName, init] of states("init")) {
          const status = buildPodStatus(view(p, [vm, side], [init]));
          const where = `${p.spec!.restartPolicy} vm=${vmName} side=${sideName} init=${initName}`;
          const byType = new Map(status.conditions!.map((c) => [c.type, c]));
          for (const c of status.conditions!) {
            if (c.status === "True") {
              assert.equal(c.reason, undefined, `${where}: ${c.type} True without a reason`);
              assert.equal(c.message, undefined, `${where}: ${c.type} True without a message`);
            } else if (c.type !== "PodReadyToStartContainers") {
              assert.ok(c.reason, `${where}: ${c.type} False has a reason`);
            }
          }
          const ready = byType.get("Ready")!;
          const containersReady = byType.get("ContainersReady")!;
          const terminal = status.phase === "Succeeded" || status.phase === "Failed";
          if (ready.status === "True") {
            assert.equal(containersReady.status, "True", where);
            assert.equal(status.phase, "Running", where);
            assert.equal(byType.get("Initialized")!.status, "True", where);
          }
          if (terminal) assert.equal(ready.reason, "PodCompleted", where);
          else if (containersReady.status === "False") {
            const unready = [vm, side].filter((s) => !s.ready).map((s) => s.name);
            assert.equal(
              containersReady.message,
              unready.length
                ? `containers with unready status: [${unready.join(" ")}]`
                : "containers with incomplete status: [init]",
              where,
            );
          }
          if (byType.get("Initialized")!.status === "False") {
            assert.equal(
              byType.get("Initialized")!.message,
              "containers with incomplete status: [init]",
            );
          }
          checked++;
        }
      }
    }
  }
  assert.equal(checked, 3 * 8 * 8 * 8);
});

Deno.test("pod status: readiness gates hold Ready back with their own reason", () => {
  const ready = Object.fromEntries(states("vm")).ready;
  const p = pod();
  p.spec!.readinessGates = [{ conditionType: "example.com/lb" }];
  let c = buildPodStatus(view(p, [ready])).conditions!.find((c) => c.type === "Ready")!;
  assert.equal(c.status, "False");
  assert.equal(c.reason, "ReadinessGatesNotReady");
  p.status = { conditions: [{ type: "example.com/lb", status: "True" }] };
  c = buildPodStatus(view(p, [ready])).conditions!.find((c) => c.type === "Ready")!;
  assert.equal(c.status, "True");
});
