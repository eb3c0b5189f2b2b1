// What the VM runtime needs from the image store: a pod's image present, verified and
// held (so garbage collection leaves it alone) for as long as the pod runs.

import type * as k8s from "@kubernetes/client-node";
import type { LocalVmImage } from "../vm/types.ts";

import { defaultPullPolicy, type PullPolicy } from "../image/pull/policy.ts";

export type { PullPolicy };

export interface HeldImage {
  image: LocalVmImage;
  /** Digest reference reported as the container's imageID. */
  imageID: string;
  /** Whether this call downloaded anything. */
  pulled: boolean;
  /** Files found changed since verification and pulled again (a Warning event each). */
  replaced: string[];
  release(): void;
}

export interface ImageSource {
  ensure(
    ref: string,
    opts: {
      pod: k8s.V1Pod;
      policy: PullPolicy;
      signal: AbortSignal;
      onProgress?: (message: string) => void;
    },
  ): Promise<HeldImage>;
}

/** The container's imagePullPolicy, or Kubernetes' default for its image reference. */
export function pullPolicyOf(container: k8s.V1Container): PullPolicy {
  const p = container.imagePullPolicy;
  if (p === "Always" || p === "IfNotPresent" || p === "Never") return p;
  return defaultPullPolicy(container.image ?? "");
}
