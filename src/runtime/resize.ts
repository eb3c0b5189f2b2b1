// In-place pod resize (InPlacePodVerticalScaling, GA since Kubernetes 1.35) as this node
// answers it. A VM's CPUs and memory are fixed when it boots and Docker containers are not
// resized in place here, so a resize can never be carried out: the pod gets the kubelet's
// PodResizePending condition with reason Infeasible until its spec asks for the resources its
// containers run with again. Container statuses report those resources (`resources`, and the
// requests as `allocatedResources`), as a kubelet does: the API server accepts resize requests
// only for pods whose running containers report them, and the last status written is this
// node's record of what each container was started with. Pure functions.

import type * as k8s from "@kubernetes/client-node";
import { parseQuantity } from "../kube/quantity.ts";

export const RESIZE_PENDING = "PodResizePending";
export const INFEASIBLE = "Infeasible";

type Resources = { requests?: Record<string, string>; limits?: Record<string, string> };

/** Only requests and limits (claims are not resized), without empty maps. */
function computeResources(r: k8s.V1ResourceRequirements | undefined): Resources {
  const out: Resources = {};
  if (r?.requests && Object.keys(r.requests).length) out.requests = { ...r.requests };
  if (r?.limits && Object.keys(r.limits).length) out.limits = { ...r.limits };
  return out;
}

/** Same resources, comparing quantities by value ("1" and "1000m" are one CPU). */
function sameList(a: Record<string, string> = {}, b: Record<string, string> = {}): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (a[k] === undefined || b[k] === undefined) return false;
    if (a[k] !== b[k] && parseQuantity(a[k]) !== parseQuantity(b[k])) return false;
  }
  return true;
}

function sameResources(a: Resources, b: Resources): boolean {
  return sameList(a.requests, b.requests) && sameList(a.limits, b.limits);
}

interface Named {
  name: string;
  spec: k8s.V1Container;
  /** The container's status as last written to the API, if any. */
  previous?: k8s.V1ContainerStatus;
  vm: boolean;
}

function containersOf(pod: k8s.V1Pod): { init: Named[]; regular: Named[] } {
  const prev = (list: k8s.V1ContainerStatus[] | undefined, name: string) =>
    list?.find((s) => s.name === name);
  return {
    init: (pod.spec?.initContainers ?? []).map((spec) => ({
      name: spec.name,
      spec,
      previous: prev(pod.status?.initContainerStatuses, spec.name),
      vm: false,
    })),
    regular: (pod.spec?.containers ?? []).map((spec, i) => ({
      name: spec.name,
      spec,
      previous: prev(pod.status?.containerStatuses, spec.name),
      vm: i === 0,
    })),
  };
}

/** What a container runs with: what the last status reported, else (first report) its spec. */
function enacted(c: Named): Resources {
  return computeResources(c.previous?.resources ?? c.spec.resources);
}

/** `statuses` with the resources each container runs with, as the kubelet reports them. */
function withResources(
  statuses: k8s.V1ContainerStatus[] | undefined,
  containers: Named[],
): k8s.V1ContainerStatus[] | undefined {
  return statuses?.map((s) => {
    const c = containers.find((n) => n.name === s.name);
    if (!c) return s;
    const resources = enacted(c);
    return {
      ...s,
      ...(resources.requests ? { allocatedResources: { ...resources.requests } } : {}),
      resources,
    };
  });
}

/** Why one container cannot be resized, or undefined when its spec asks for nothing new. */
function refusal(c: Named): string | undefined {
  if (sameResources(enacted(c), computeResources(c.spec.resources))) return undefined;
  return c.vm
    ? `container "${c.name}" is a virtual machine, whose CPUs and memory are fixed when it boots`
    : `container "${c.name}" runs in Docker, which this node does not resize in place`;
}

/** The PodResizePending condition for `pod`, or undefined when no resize is pending. */
export function resizeCondition(pod: k8s.V1Pod, terminal = false): k8s.V1PodCondition | undefined {
  if (terminal) return undefined;
  const { init, regular } = containersOf(pod);
  const why = [...init, ...regular].map(refusal).filter((m): m is string => !!m);
  if (why.length === 0) return undefined;
  return {
    type: RESIZE_PENDING,
    status: "True",
    reason: INFEASIBLE,
    message: `In-place pod resize is not supported on this node: ${why.join("; ")}. ` +
      "Recreate the pod to change its resources",
  };
}

export interface ResizeView {
  initContainerStatuses?: k8s.V1ContainerStatus[];
  containerStatuses?: k8s.V1ContainerStatus[];
  /** PodResizePending, when a resize is pending; nothing otherwise. */
  conditions: k8s.V1PodCondition[];
}

/** Container statuses with their resources, and the resize condition, of a pod's status. */
export function resizeStatus(
  pod: k8s.V1Pod,
  statuses: Pick<k8s.V1PodStatus, "initContainerStatuses" | "containerStatuses">,
  terminal: boolean,
): ResizeView {
  const { init, regular } = containersOf(pod);
  const condition = resizeCondition(pod, terminal);
  return {
    initContainerStatuses: withResources(statuses.initContainerStatuses, init),
    containerStatuses: withResources(statuses.containerStatuses, regular),
    conditions: condition ? [condition] : [],
  };
}
