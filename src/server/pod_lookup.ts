// Finds the pod (and container) a kubelet API request names among the pods bound to this
// node, or the 404 Status that names what is missing.

import type * as k8s from "@kubernetes/client-node";
import { type KubeStatus, notFound } from "./status.ts";

/** The pods bound to this node, as the pod controller's informer sees them. */
export interface PodDirectory {
  get(namespace: string, name: string): k8s.V1Pod | undefined;
  list(): k8s.V1Pod[];
}

export type Lookup = { ok: true; pod: k8s.V1Pod } | { ok: false; status: KubeStatus };

/** Names of every container of the pod: init, regular and ephemeral. */
export function containerNames(pod: k8s.V1Pod): string[] {
  const spec = pod.spec;
  return [
    ...(spec?.initContainers ?? []),
    ...(spec?.containers ?? []),
    ...(spec?.ephemeralContainers ?? []),
  ].map((c) => c.name);
}

export function lookupPod(
  pods: PodDirectory,
  namespace: string,
  name: string,
  container?: string,
  uid?: string,
): Lookup {
  const pod = pods.get(namespace, name);
  if (!pod || (uid !== undefined && pod.metadata?.uid !== uid)) {
    return {
      ok: false,
      status: notFound("pods", name, `pod "${namespace}/${name}" not found on this node`),
    };
  }
  if (container !== undefined && !containerNames(pod).includes(container)) {
    return {
      ok: false,
      status: notFound(
        "containers",
        container,
        `container "${container}" not found in pod "${namespace}/${name}"`,
      ),
    };
  }
  return { ok: true, pod };
}
