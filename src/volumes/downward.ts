// The downward API: a pod's own fields (metadata, spec, status) and its containers' resources
// as strings, for environment variables (runtime/env.ts) and downwardAPI volume files alike.
// Pure.

import type * as k8s from "@kubernetes/client-node";
import { parseQuantity } from "../kube/quantity.ts";

export interface DownwardContext {
  pod: k8s.V1Pod;
  /** The container an env var belongs to (resourceFieldRef without containerName). */
  container?: k8s.V1Container;
  podIP?: string;
  hostIP?: string;
  nodeName: string;
  /** What resourceFieldRef reports for an unset limit: the node's allocatable. */
  nodeCpus: number;
  nodeMemoryBytes: number;
}

/** metadata.labels['key'] / metadata.annotations['key'] */
const MAP_FIELD = /^metadata\.(labels|annotations)\['(.+)'\]$/;

/** A map as a downwardAPI file shows it: `key="value"` lines, sorted, values escaped. */
export function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {}).sort().map((k) => `${k}=${JSON.stringify(map![k])}\n`).join("");
}

/**
 * The value of `path`; undefined when the field is not one the downward API offers. Whole
 * label and annotation maps (volumes only) come formatted as a file.
 */
export function fieldValue(ctx: DownwardContext, path: string): string | undefined {
  const m = ctx.pod.metadata ?? {};
  const mapped = MAP_FIELD.exec(path);
  if (mapped) return (mapped[1] === "labels" ? m.labels : m.annotations)?.[mapped[2]] ?? "";
  switch (path) {
    case "metadata.name":
      return m.name ?? "";
    case "metadata.namespace":
      return m.namespace ?? "";
    case "metadata.uid":
      return m.uid ?? "";
    case "metadata.labels":
      return formatMap(m.labels);
    case "metadata.annotations":
      return formatMap(m.annotations);
    case "spec.nodeName":
      return ctx.pod.spec?.nodeName ?? ctx.nodeName;
    case "spec.serviceAccountName":
      return ctx.pod.spec?.serviceAccountName ?? "default";
    case "status.hostIP":
    case "status.hostIPs":
      return ctx.hostIP ?? "";
    case "status.podIP":
    case "status.podIPs":
      return ctx.podIP ?? "";
  }
  return undefined;
}

/** limits.cpu, requests.memory, ... in units of the divisor; CPU rounds up, as the kubelet. */
export function resourceValue(
  ctx: DownwardContext,
  ref: k8s.V1ResourceFieldSelector,
): string | undefined {
  const target = ref.containerName
    ? [...(ctx.pod.spec?.containers ?? []), ...(ctx.pod.spec?.initContainers ?? [])].find((c) =>
      c.name === ref.containerName
    )
    : ctx.container;
  const m = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.exec(ref.resource);
  if (!target || !m) return undefined;
  const [, kind, name] = m;
  let value = parseQuantity(target.resources?.[kind as "limits"]?.[name]);
  if (value === undefined && kind === "requests") {
    value = parseQuantity(target.resources?.limits?.[name]);
  }
  if (value === undefined) {
    value = name === "cpu" ? ctx.nodeCpus : name === "memory" ? ctx.nodeMemoryBytes : 0;
  }
  const divisor = parseQuantity(ref.divisor ?? "1") || 1;
  return String(Math.ceil(value / divisor));
}
