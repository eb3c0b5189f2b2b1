// In-place resize as this node answers it (src/runtime/resize.ts, through buildPodStatus) and
// the status patch that carries it (src/pods/status.ts): container statuses report what each
// container runs with, a changed spec is PodResizePending/Infeasible naming the containers, the
// condition goes away (a $patch: delete) when the spec asks for the old resources again, and
// every patch says which pod generation it describes.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { newContainerState, toRunning } from "../../src/runtime/container_state.ts";
import { buildPodStatus, type PodView } from "../../src/runtime/pod_status.ts";
import { resizeCondition } from "../../src/runtime/resize.ts";
import { statusDiffers, statusPatch } from "../../src/pods/status.ts";

const t0 = new Date("2026-01-01T00:00:00Z");

function pod(vmCpu: string, sideMemory = "64Mi", generation = 1): k8s.V1Pod {
  return {
    metadata: { name: "p", namespace: "ns", uid: "u", generation },
    spec: {
      containers: [
        { name: "vm", image: "mac", resources: { requests: { cpu: vmCpu, memory: "4Gi" } } },
        { name: "side", image: "busybox", resources: { limits: { memory: sideMemory } } },
      ],
    },
  };
}

function view(p: k8s.V1Pod): PodView {
  const states = p.spec!.containers.map((c) => {
    const s = newContainerState(c);
    toRunning(s, `id://${c.name}`, t0);
    s.started = s.ready = true;
    return s;
  });
  return { pod: p, acceptedAt: t0, init: [], containers: states, sandboxReady: true };
}

/** `p` as the API server returns it after `status` was written. */
const written = (p: k8s.V1Pod, status: k8s.V1PodStatus): k8s.V1Pod => ({ ...p, status });

Deno.test("resize: container statuses report the resources each container runs with", () => {
  const status = buildPodStatus(view(pod("2")));
  const [vm, side] = status.containerStatuses!;
  assert.deepEqual(vm.resources, { requests: { cpu: "2", memory: "4Gi" } });
  assert.deepEqual(vm.allocatedResources, { cpu: "2", memory: "4Gi" });
  assert.deepEqual(side.resources, { limits: { memory: "64Mi" } });
  assert.equal(side.allocatedResources, undefined, "no requests: nothing allocated");
  assert.equal(status.conditions!.find((c) => c.type === "PodResizePending"), undefined);
});

Deno.test("resize: a changed VM size is Infeasible, the old resources stay reported", () => {
  const first = buildPodStatus(view(pod("2")));
  const resized = written(pod("4", "64Mi", 2), first);
  const status = buildPodStatus(view(resized));
  const pending = status.conditions!.find((c) => c.type === "PodResizePending");
  assert.equal(pending?.status, "True");
  assert.equal(pending?.reason, "Infeasible");
  assert.match(pending!.message!, /container "vm" is a virtual machine/);
  assert.doesNotMatch(pending!.message!, /"side"/);
  assert.deepEqual(status.containerStatuses![0].resources, {
    requests: { cpu: "2", memory: "4Gi" },
  });
  // The other conditions are unaffected.
  assert.equal(status.conditions!.find((c) => c.type === "Ready")?.status, "True");
});

Deno.test("resize: Docker containers are named too; equal quantities are no resize", () => {
  const first = buildPodStatus(view(pod("2")));
  const sideOnly = resizeCondition(written(pod("2", "128Mi"), first));
  assert.match(sideOnly!.message!, /container "side" runs in Docker/);
  assert.equal(resizeCondition(written(pod("2000m", "64Mi"), first)), undefined);
  assert.equal(resizeCondition(written(pod("2", "67108864"), first)), undefined);
  // No status yet: the spec is what runs, so nothing is pending.
  assert.equal(resizeCondition(pod("8")), undefined);
  // A pod that has finished has no resize pending.
  assert.equal(resizeCondition(written(pod("4"), first), true), undefined);
});

Deno.test("status patch: observedGeneration on the status and on every owned condition", () => {
  const p = pod("2", "64Mi", 3);
  const patch = statusPatch(p, buildPodStatus(view(p)), t0) as {
    status: { observedGeneration: number; conditions: k8s.V1PodCondition[] };
  };
  assert.equal(patch.status.observedGeneration, 3);
  assert.ok(patch.status.conditions.length >= 4);
  for (const c of patch.status.conditions) assert.equal(c.observedGeneration, 3, c.type);
  // Written and read back: nothing differs; a new generation does.
  const back = written(p, {
    ...buildPodStatus(view(p)),
    observedGeneration: 3,
    conditions: patch.status.conditions,
  });
  assert.equal(statusPatch(back, buildPodStatus(view(back)), t0), undefined);
  const next = { ...back, metadata: { ...back.metadata, generation: 4 } };
  assert.equal(statusDiffers(next.status, buildPodStatus(view(next)), 4), true);
});

Deno.test("status patch: the resize condition is added, then deleted once the spec reverts", () => {
  const original = pod("2", "64Mi", 1);
  const first = buildPodStatus(view(original));
  const resized = written(pod("4", "64Mi", 2), first);
  const pendingStatus = buildPodStatus(view(resized));
  const add = statusPatch(resized, pendingStatus, t0) as { status: { conditions: unknown[] } };
  assert.ok(
    add.status.conditions.some((c) =>
      (c as k8s.V1PodCondition).type === "PodResizePending" &&
      (c as k8s.V1PodCondition).observedGeneration === 2
    ),
  );
  const reverted = written(pod("2", "64Mi", 3), { ...pendingStatus, observedGeneration: 2 });
  const revertedStatus = buildPodStatus(view(reverted));
  assert.equal(revertedStatus.conditions!.find((c) => c.type === "PodResizePending"), undefined);
  const remove = statusPatch(reverted, revertedStatus, t0) as { status: { conditions: unknown[] } };
  assert.deepEqual(
    remove.status.conditions.filter((c) => (c as { $patch?: string }).$patch),
    [{ type: "PodResizePending", $patch: "delete" }],
  );
  // Conditions of others (PodScheduled) are never deleted.
  const scheduled = written(original, {
    ...first,
    conditions: [...first.conditions!, { type: "PodScheduled", status: "True" }],
  });
  const patch = statusPatch(scheduled, buildPodStatus(view(scheduled)), t0) as {
    status: { conditions: unknown[] };
  };
  assert.ok(!patch.status.conditions.some((c) => (c as { $patch?: string }).$patch));
});
