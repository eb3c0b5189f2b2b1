// Pod status writing: decides whether the status the runtime reports differs from what the
// API server has, and builds the strategic merge patch that changes only what this agent
// owns (conditions merge by type, so conditions of other controllers survive). The patch
// carries the pod's UID as a precondition so it can never land on a recreated namesake, and
// says which generation of the pod it describes (status.observedGeneration, and each owned
// condition's), as kubelets do since PodObservedGenerationTracking went GA in 1.35.

import type * as k8s from "@kubernetes/client-node";
import { isDeepStrictEqual } from "node:util";

/**
 * Pod conditions the kubelet owns; others (PodScheduled, DisruptionTarget…) are left alone.
 * An owned condition the desired status no longer has is removed (a resize no longer pending).
 */
export const OWNED_POD_CONDITIONS = [
  "PodReadyToStartContainers",
  "Initialized",
  "ContainersReady",
  "Ready",
  "PodResizePending",
  "PodResizeInProgress",
];

const OWNED_FIELDS = [
  "phase",
  "reason",
  "message",
  "hostIP",
  "hostIPs",
  "podIP",
  "podIPs",
  "startTime",
  "containerStatuses",
  "initContainerStatuses",
] as const;

const ISO_FRACTION = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+Z$/;

/**
 * JSON with times at whole seconds (what metav1.Time keeps) and undefined dropped, so a
 * status read back from the API compares equal to the one that was written.
 */
function canonical(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? null), (_k, v) => {
    if (typeof v !== "string") return v;
    const m = ISO_FRACTION.exec(v);
    return m ? `${m[1]}Z` : v;
  });
}

function conditionKey(c: k8s.V1PodCondition | undefined, generation?: number) {
  if (!c) return "";
  const observed = generation === undefined ? "" : String(c.observedGeneration ?? 0);
  return [c.status, c.reason ?? "", c.message ?? "", observed].join("\x00");
}

/** Owned conditions `current` has and `desired` (when it names any) no longer does. */
function dropped(current: k8s.V1PodStatus | undefined, desired: k8s.V1PodStatus): string[] {
  if (!desired.conditions?.length) return [];
  return (current?.conditions ?? []).map((c) => c.type).filter((t) =>
    OWNED_POD_CONDITIONS.includes(t) && !desired.conditions!.some((d) => d.type === t)
  );
}

/**
 * Whether `desired` would change anything this agent owns in `current`; with `generation`
 * (the pod's metadata.generation) also whether the observed generations lag behind it.
 */
export function statusDiffers(
  current: k8s.V1PodStatus | undefined,
  desired: k8s.V1PodStatus,
  generation?: number,
): boolean {
  for (const f of OWNED_FIELDS) {
    if (desired[f] === undefined) continue;
    // Deep equality, not JSON text: objects read back from the API have another key order.
    if (!isDeepStrictEqual(canonical(current?.[f]), canonical(desired[f]))) return true;
  }
  if (generation !== undefined && current?.observedGeneration !== generation) return true;
  for (const c of desired.conditions ?? []) {
    const prev = current?.conditions?.find((p) => p.type === c.type);
    const want = generation === undefined ? c : { ...c, observedGeneration: generation };
    if (conditionKey(prev, generation) !== conditionKey(want, generation)) return true;
  }
  return dropped(current, desired).length > 0;
}

/**
 * The status patch: owned fields from `desired`, conditions with stable transition times.
 * Returns undefined when nothing changes.
 */
export function statusPatch(
  pod: k8s.V1Pod,
  desired: k8s.V1PodStatus,
  now = new Date(),
): Record<string, unknown> | undefined {
  const current = pod.status;
  const generation = pod.metadata?.generation;
  if (!statusDiffers(current, desired, generation)) return undefined;
  const status: Record<string, unknown> = {};
  if (generation !== undefined) status.observedGeneration = generation;
  for (const f of OWNED_FIELDS) {
    if (desired[f] === undefined) continue;
    status[f] = canonical(desired[f]);
    // podIPs and hostIPs merge by key in a strategic merge patch: replace them instead, or a
    // changed address would be added beside the old one (which the API server rejects).
    if ((f === "podIPs" || f === "hostIPs") && Array.isArray(status[f])) {
      status[f] = [{ $patch: "replace" }, ...(status[f] as unknown[])];
    }
  }
  if (desired.conditions?.length) {
    status.conditions = desired.conditions.map((c) => {
      const prev = current?.conditions?.find((p) => p.type === c.type);
      const since = prev && prev.status === c.status && prev.lastTransitionTime
        ? prev.lastTransitionTime
        : c.lastTransitionTime ?? now;
      // A condition without a reason or message clears the old ones: a strategic merge
      // patch keeps fields it does not name (a True Ready beside a stale PodNotReady).
      return canonical({
        ...c,
        reason: c.reason ?? null,
        message: c.message ?? null,
        lastTransitionTime: since,
        lastProbeTime: null,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      });
    });
    for (const type of dropped(current, desired)) {
      (status.conditions as unknown[]).push({ type, $patch: "delete" });
    }
  }
  return { metadata: { uid: pod.metadata?.uid }, status };
}

/** Status of a pod this node refuses to run: Failed, with the problems as the message. */
export function rejectedStatus(pod: k8s.V1Pod, problems: string[], now = new Date()) {
  const message = `pod cannot run on this node: ${problems.join("; ")}`;
  const status: k8s.V1PodStatus = {
    phase: "Failed",
    reason: "AdmissionFailed",
    message,
    startTime: pod.status?.startTime ?? now,
    conditions: [
      { type: "Ready", status: "False", reason: "AdmissionFailed", message },
    ],
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? "",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { waiting: { reason: "AdmissionFailed", message } },
    })),
  };
  return status;
}

export function isTerminal(pod: k8s.V1Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}
