// The pod coordinator and the VM container's driver over a scripted backend: one restart per
// stop (even when the VM reports its end twice), slots and image holds released exactly once,
// restartCount and lastState, restartPolicy Never ending the pod, postStart failures.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import type { EventRecorder } from "../../src/kube/events.ts";
import { silentLogger } from "../../src/telemetry/log.ts";
import {
  ScriptedBackend,
  scriptedImages,
  scriptedPodRuntime,
} from "../support/scripted_backend.ts";

interface Recorded {
  reason: string;
  message: string;
}

function world(
  opts: { maxRunning?: number; hook?: (argv: string[]) => number; backoffMs?: number } = {},
) {
  const backend = new ScriptedBackend(opts.maxRunning ?? 2);
  const images = scriptedImages();
  const events: Recorded[] = [];
  const recorder: EventRecorder = {
    record: (_ref, _type, reason, message) => void events.push({ reason, message }),
    flush: () => Promise.resolve(),
  };
  const stateDir = Deno.makeTempDirSync({ prefix: "vzk-runtime-test-" });
  const runtime = scriptedPodRuntime(recorder, silentLogger, stateDir, {
    backend,
    images,
    hook: opts.hook,
    backoffMs: opts.backoffMs,
  });
  return { backend, images, events, runtime, stateDir };
}

function vmPod(name: string, restartPolicy = "Always", postStart?: string[]): k8s.V1Pod {
  return {
    metadata: { name, namespace: "ns", uid: `uid-${name}` },
    spec: {
      restartPolicy,
      containers: [{
        name: "vm",
        image: "registry.test/vm:1",
        lifecycle: postStart ? { postStart: { exec: { command: postStart } } } : undefined,
      }],
    },
  };
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const vmStatus = (w: ReturnType<typeof world>, pod: k8s.V1Pod) =>
  w.runtime.podStatus(pod)!.containerStatuses![0];
const isReady = (w: ReturnType<typeof world>, pod: k8s.V1Pod) =>
  w.runtime.podStatus(pod)!.conditions!.find((c) => c.type === "Ready")!.status === "True";

Deno.test("runtime: a VM that reports its end twice restarts once, slot released once", async () => {
  const w = world({ maxRunning: 1 });
  const pod = vmPod("a");
  await w.runtime.createPod(pod);
  await until("ready", () => isReady(w, pod));
  const first = vmStatus(w, pod).state!.running!.startedAt!;
  for (let round = 1; round <= 5; round++) {
    const vm = w.backend.vmOf("uid-a")!;
    vm.emit("error", "guest kernel panicked");
    vm.emit("stopped", "the guest powered off");
    await until(
      `restart ${round}`,
      () => vmStatus(w, pod).restartCount === round && isReady(w, pod),
    );
    assert.equal(w.backend.starts, round + 1, "exactly one new VM per stop");
    assert.equal(w.backend.live.size, 1, "the old VM was destroyed");
    assert.equal(w.images.held, 1, "one image hold");
  }
  const cs = vmStatus(w, pod);
  assert.equal(cs.lastState?.terminated?.exitCode, 137);
  assert.equal(cs.lastState?.terminated?.message, "guest kernel panicked");
  assert.ok(cs.state!.running!.startedAt! > first, "startedAt is the new run's");
  assert.equal(w.runtime.status().message, "qemu backend ready, 1/1 VM slots in use");
  await w.runtime.deletePod(pod, 1);
  assert.equal(w.runtime.status().message, "qemu backend ready, 0/1 VM slots in use");
  assert.equal(w.images.held, 0);
  assert.equal(w.backend.live.size, 0);
  // A second pod now gets the slot at once.
  const b = vmPod("b");
  await w.runtime.createPod(b);
  await until("b ready", () => isReady(w, b));
  await w.runtime.deletePod(b, 1);
  const backOffs = w.events.filter((e) => e.reason === "BackOff").length;
  assert.equal(backOffs, 5, "one BackOff event per stop");
  await w.runtime.close();
});

Deno.test("runtime: restartPolicy Never ends the pod Succeeded or Failed", async () => {
  const w = world();
  const ok = vmPod("ok", "Never");
  const bad = vmPod("bad", "Never");
  await w.runtime.createPod(ok);
  await w.runtime.createPod(bad);
  await until("both ready", () => isReady(w, ok) && isReady(w, bad));
  w.backend.vmOf("uid-ok")!.emit("stopped", "the guest powered off");
  w.backend.vmOf("uid-bad")!.emit("error", "qemu process ended without a shutdown");
  await until("ok Succeeded", () => w.runtime.podStatus(ok)!.phase === "Succeeded");
  await until("bad Failed", () => w.runtime.podStatus(bad)!.phase === "Failed");
  assert.equal(vmStatus(w, ok).state?.terminated?.exitCode, 0);
  assert.equal(vmStatus(w, bad).state?.terminated?.exitCode, 137);
  assert.equal(vmStatus(w, bad).restartCount, 0);
  assert.equal(w.backend.live.size, 0, "ended VMs are removed");
  assert.equal(w.runtime.status().message, "qemu backend ready, 0/2 VM slots in use");
  const ready = w.runtime.podStatus(bad)!.conditions!.find((c) => c.type === "Ready")!;
  assert.equal(ready.reason, "PodCompleted");
  await w.runtime.close();
});

Deno.test("runtime: OnFailure restarts a crash, not a clean power-off", async () => {
  const w = world();
  const pod = vmPod("of", "OnFailure");
  await w.runtime.createPod(pod);
  await until("ready", () => isReady(w, pod));
  w.backend.vmOf("uid-of")!.emit("error", "crashed");
  await until("restarted", () => vmStatus(w, pod).restartCount === 1 && isReady(w, pod));
  w.backend.vmOf("uid-of")!.emit("stopped", "the guest powered off");
  await until("Succeeded", () => w.runtime.podStatus(pod)!.phase === "Succeeded");
  await w.runtime.close();
});

Deno.test("runtime: a failing postStart hook fails the run and is retried", async () => {
  let calls = 0;
  const w = world({ hook: (argv) => argv[0] !== "sh" ? 0 : ++calls < 3 ? 7 : 0 });
  const pod = vmPod("hook", "Always", ["sh", "-c", "exit 7"]);
  await w.runtime.createPod(pod);
  await until("ready after two failed hooks", () => isReady(w, pod));
  assert.equal(vmStatus(w, pod).restartCount, 2);
  const failed = w.events.filter((e) => e.reason === "FailedPostStartHook");
  assert.equal(failed.length, 2);
  assert.match(failed[0].message, /postStart hook failed: command \["sh","-c","exit 7"\] exited 7/);
  assert.equal(w.backend.live.size, 1);
  await w.runtime.deletePod(pod, 1);
  assert.equal(w.backend.live.size, 0);
  await w.runtime.close();
});

Deno.test("runtime: deletion during the slot wait holds nothing", async () => {
  const w = world({ maxRunning: 1 });
  const a = vmPod("a");
  const b = vmPod("b");
  await w.runtime.createPod(a);
  await until("a ready", () => isReady(w, a));
  await w.runtime.createPod(b);
  await until("b waits", () => vmStatus(w, b).state?.waiting?.reason === "WaitingForVMSlot");
  assert.equal(vmStatus(w, b).state?.waiting?.message, "waiting for a VM slot (1/1 in use)");
  await w.runtime.deletePod(b, 1);
  assert.equal(w.images.held, 1, "b's image hold released");
  await w.runtime.deletePod(a, 1);
  assert.equal(w.runtime.status().message, "qemu backend ready, 0/1 VM slots in use");
  await w.runtime.close();
});

Deno.test("runtime: while backing off, the container waits with the kubelet's message", async () => {
  const w = world({ backoffMs: 400 }); // slow enough for the waiting state to be seen
  const pod = vmPod("wait", "Always");
  await w.runtime.createPod(pod);
  await until("ready", () => isReady(w, pod));
  w.backend.vmOf("uid-wait")!.emit("stopped", "the guest powered off");
  const waiting = await until("backing off", () => {
    const s = vmStatus(w, pod).state?.waiting;
    return s?.reason === "CrashLoopBackOff" && s;
  });
  assert.equal(waiting.message, "back-off 400ms restarting failed container=vm");
  assert.equal(vmStatus(w, pod).lastState?.terminated?.exitCode, 0);
  assert.equal(w.runtime.podStatus(pod)!.phase, "Running", "restarting under Always");
  await until("restarted", () => vmStatus(w, pod).restartCount === 1 && isReady(w, pod));
  await w.runtime.close();
});
