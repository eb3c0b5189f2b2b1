// imagePullPolicy with its Kubernetes meaning: Always resolves the reference at the
// registry every time (downloading only what changed), IfNotPresent uses a valid local
// image when there is one, Never only ever uses the local image. The default, as in
// Kubernetes: Always for `:latest` or no tag (and no digest), IfNotPresent otherwise.

import { formatReference, type ImageReference, parseReference } from "../registry/reference.ts";
import { pullImage, type PullOptions, type PullResult } from "./pull.ts";
import type { RegistryClient } from "../registry/client.ts";
import type { ImageStore } from "../store/store.ts";

export type PullPolicy = "Always" | "IfNotPresent" | "Never";

/** Kubernetes' default policy for an image string as written in the pod. */
export function defaultPullPolicy(image: string): PullPolicy {
  const ref = parseReference(image);
  if (ref.digest) return "IfNotPresent";
  return ref.tag === "latest" ? "Always" : "IfNotPresent";
}

/** Thrown for policy Never when the image is not present (kubelet reason ErrImageNeverPull). */
export class ImageNeverPullError extends Error {
  constructor(reference: string) {
    super(`image ${reference}: not present locally and the pull policy is Never`);
    this.name = "ImageNeverPullError";
  }
}

export interface EnsureResult extends PullResult {
  /** False when the local image was used without contacting the registry. */
  pulled: boolean;
}

/**
 * The local image for `image` under `policy`, pulling when the policy says so. Pulls of
 * one reference are shared with every concurrent caller.
 */
export async function ensureImage(
  client: RegistryClient,
  store: ImageStore,
  image: string | ImageReference,
  policy: PullPolicy,
  opts: PullOptions = {},
): Promise<EnsureResult> {
  const ref = typeof image === "string" ? parseReference(image) : image;
  const reference = formatReference(ref);
  if (policy !== "Always") {
    const local = await store.lookup(reference);
    if (local) {
      await store.touch(local.manifestDigest);
      return { ...local, replaced: [], downloadedBytes: 0, pulled: false };
    }
    if (policy === "Never") throw new ImageNeverPullError(reference);
  }
  return { ...await pullImage(client, store, ref, opts), pulled: true };
}
