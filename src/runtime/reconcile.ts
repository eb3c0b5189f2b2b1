// Optional runtime capability: told every pod bound to this node once the pod informer has
// listed them after start-up, a runtime removes what it holds for pods that are gone
// (VMs of pods deleted while the agent was down).

import type * as k8s from "@kubernetes/client-node";

export interface Reconciler {
  reconcile(pods: k8s.V1Pod[]): Promise<void>;
}

export function isReconciler(x: unknown): x is Reconciler {
  return typeof (x as Partial<Reconciler>)?.reconcile === "function";
}
