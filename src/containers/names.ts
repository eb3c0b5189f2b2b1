// How the agent names and labels the Docker containers of pods: `macos-vz_<ns>_<pod>_<name>`,
// with labels for the node, pod UID and container name, so an agent restart finds (adopts)
// its containers and removes those of pods that are gone, and two agents sharing one Docker
// engine never touch each other's containers.

export const LABEL_NODE = "io.macos-vz.node";
export const LABEL_POD_UID = "io.kubernetes.pod.uid";
export const LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace";
export const LABEL_POD_NAME = "io.kubernetes.pod.name";
export const LABEL_CONTAINER = "io.kubernetes.container.name";

export interface ContainerIdentity {
  nodeName: string;
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
}

export function containerName(id: ContainerIdentity): string {
  return `macos-vz_${id.namespace}_${id.pod}_${id.container}`;
}

export function containerLabels(id: ContainerIdentity): Record<string, string> {
  return {
    [LABEL_NODE]: id.nodeName,
    [LABEL_POD_UID]: id.podUid,
    [LABEL_POD_NAMESPACE]: id.namespace,
    [LABEL_POD_NAME]: id.pod,
    [LABEL_CONTAINER]: id.container,
  };
}

/** Whether `labels` say the container is this one (same node, pod UID and name). */
export function isContainer(
  labels: Record<string, string> | undefined,
  id: ContainerIdentity,
): boolean {
  return labels?.[LABEL_NODE] === id.nodeName && labels?.[LABEL_POD_UID] === id.podUid &&
    labels?.[LABEL_CONTAINER] === id.container;
}
