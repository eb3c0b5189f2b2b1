// The volume plan of a pod: which volumes it has, of which kind, and which container mounts
// which at what path (subPath, readOnly). Pure, checked at admission: a volume kind this node
// cannot provide, a mount of a volume that does not exist, or a bad subPath fails the pod with
// a message naming the field, so a volume is never silently left out.

import type * as k8s from "@kubernetes/client-node";

export type VolumeKind =
  | "emptyDir"
  | "hostPath"
  | "configMap"
  | "secret"
  | "downwardAPI"
  | "projected";

export const SUPPORTED_KINDS: VolumeKind[] = [
  "emptyDir",
  "hostPath",
  "configMap",
  "secret",
  "downwardAPI",
  "projected",
];

/** Every volume source field of the API besides the supported ones, for the error message. */
const UNSUPPORTED_KINDS = [
  "persistentVolumeClaim",
  "csi",
  "ephemeral",
  "nfs",
  "iscsi",
  "image",
  "awsElasticBlockStore",
  "azureDisk",
  "azureFile",
  "cephfs",
  "cinder",
  "fc",
  "flexVolume",
  "flocker",
  "gcePersistentDisk",
  "gitRepo",
  "glusterfs",
  "photonPersistentDisk",
  "portworxVolume",
  "quobyte",
  "rbd",
  "scaleIO",
  "storageos",
  "vsphereVolume",
];

export interface PlannedVolume {
  name: string;
  kind: VolumeKind;
  source: k8s.V1Volume;
}

export interface PlannedMount {
  volume: string;
  mountPath: string;
  subPath?: string;
  readOnly: boolean;
}

export interface VolumePlan {
  volumes: PlannedVolume[];
  /** Mounts per container name (init and regular containers). */
  mounts: Map<string, PlannedMount[]>;
}

export function kindOf(v: k8s.V1Volume): VolumeKind | string | undefined {
  for (const k of SUPPORTED_KINDS) if (v[k] !== undefined) return k;
  return UNSUPPORTED_KINDS.find((k) => (v as unknown as Record<string, unknown>)[k] !== undefined);
}

/** Whether `subPath` stays inside its volume: relative, no `..` component. */
export function validSubPath(subPath: string): boolean {
  return !subPath.startsWith("/") && !subPath.split("/").includes("..");
}

/** The plan and the problems that keep the pod from running here. */
export function planVolumes(pod: k8s.V1Pod): { plan: VolumePlan; problems: string[] } {
  const problems: string[] = [];
  const volumes: PlannedVolume[] = [];
  const names = new Set<string>();
  for (const [i, v] of (pod.spec?.volumes ?? []).entries()) {
    const field = `spec.volumes[${i}] (${v.name})`;
    if (names.has(v.name)) {
      problems.push(`${field}: the name is used twice; give each volume its own`);
    }
    names.add(v.name);
    const kind = kindOf(v);
    if (kind === undefined) {
      problems.push(`${field}: no volume source given`);
    } else if (!SUPPORTED_KINDS.includes(kind as VolumeKind)) {
      problems.push(
        `${field}: volumes of type ${kind} are not supported on this node; it provides ` +
          `${SUPPORTED_KINDS.join(", ")}`,
      );
    } else {
      const p = v.projected?.sources?.findIndex((s) => s.clusterTrustBundle || s.podCertificate);
      if (p !== undefined && p >= 0) {
        const what = v.projected!.sources![p].clusterTrustBundle
          ? "clusterTrustBundle"
          : "podCertificate";
        problems.push(
          `${field}.projected.sources[${p}]: ${what} sources are not supported on this node`,
        );
      } else volumes.push({ name: v.name, kind: kind as VolumeKind, source: v });
    }
  }
  const mounts = new Map<string, PlannedMount[]>();
  const lists = [["initContainers", pod.spec?.initContainers ?? []], [
    "containers",
    pod.spec?.containers ?? [],
  ]] as const;
  for (const [list, containers] of lists) {
    for (const [ci, c] of containers.entries()) {
      const seen = new Set<string>();
      const planned: PlannedMount[] = [];
      for (const [mi, m] of (c.volumeMounts ?? []).entries()) {
        const field = `spec.${list}[${ci}] (${c.name}).volumeMounts[${mi}]`;
        if (!names.has(m.name)) {
          problems.push(`${field}: no volume named "${m.name}" in spec.volumes`);
          continue;
        }
        if (!m.mountPath?.startsWith("/")) {
          problems.push(`${field}.mountPath: "${m.mountPath}" is not an absolute path`);
          continue;
        }
        if (seen.has(m.mountPath)) {
          problems.push(`${field}.mountPath: ${m.mountPath} is mounted twice in this container`);
        }
        seen.add(m.mountPath);
        if (m.subPathExpr) {
          problems.push(`${field}.subPathExpr: not supported on this node; use subPath`);
          continue;
        }
        if (m.subPath && !validSubPath(m.subPath)) {
          problems.push(
            `${field}.subPath: "${m.subPath}" must be relative and must not contain ".."`,
          );
          continue;
        }
        planned.push({
          volume: m.name,
          mountPath: m.mountPath,
          subPath: m.subPath || undefined,
          readOnly: !!m.readOnly,
        });
      }
      mounts.set(c.name, planned);
    }
  }
  return { plan: { volumes: volumes.filter((v) => names.has(v.name)), mounts }, problems };
}
