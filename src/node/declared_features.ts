// The node's status.declaredFeatures: the Kubernetes features this agent implements and says
// so, for the control plane to act on. kube-apiserver passes kubectl's WebSocket streams
// straight to a node declaring ExtendWebSocketsToKubelet (instead of translating them to SPDY);
// the scheduler and the NodeDeclaredFeatureValidator admission plugin keep pods, and pod
// updates, that need a feature away from nodes that do not declare it. So the list is exactly
// what the agent does, never more: every entry names the code that implements it.

/**
 * Feature names as the API validates them: sorted, unique, each an UpperCamelCase segment,
 * optionally followed by `/subFeature` segments.
 */
export const DECLARED_FEATURES: readonly string[] = [
  // exec/attach over WebSocket v5.channel.k8s.io and port-forward over WebSocket
  // SPDY/3.1+portforward.k8s.io on the kubelet's own paths: src/server/streaming/websocket.ts.
  "ExtendWebSocketsToKubelet",
];

/*
 * Declarable in Kubernetes 1.37 and deliberately not declared:
 * - InPlacePodLevelResourcesVerticalScaling, InPlacePodVerticalScalingInitContainers (and the
 *   memory-backed volume resize feature): a VM's CPUs and memory are fixed when it boots, so
 *   resizes are answered with PodResizePending/Infeasible (src/runtime/resize.ts); declaring
 *   would let the API server accept pod-level and init-container resizes for nothing.
 * - RestartAllContainers, UserNamespacesHostNetwork, VolumeBindMountOptions and the DRA node
 *   features: not implemented.
 */

const NAME = /^[A-Z][a-zA-Z0-9]*(\/[a-zA-Z][a-zA-Z0-9]*)*$/;

/** Problems with a declared-features list, as the API server's validation would see them. */
export function declaredFeatureProblems(features: readonly string[]): string[] {
  const problems: string[] = [];
  features.forEach((f, i) => {
    if (!NAME.test(f)) problems.push(`${JSON.stringify(f)} is not an UpperCamelCase feature name`);
    const next = features[i + 1];
    if (next === undefined) return;
    if (next === f) problems.push(`${JSON.stringify(f)} is declared twice`);
    else if (next < f) problems.push(`${JSON.stringify(next)} is out of order (sort the list)`);
  });
  return problems;
}
