// The runtime's ImageSource over the image subsystem's ImageService: the pod's pull policy
// and credentials, a lease per pod so garbage collection never removes an image in use,
// and progress as short messages for the pod's status (a stalled registry at once).

import type * as k8s from "@kubernetes/client-node";
import type { Credentials } from "../image/registry/credentials.ts";
import { parseReference } from "../image/registry/reference.ts";
import { type ImageService, vmImageFiles } from "../image/service.ts";
import type { HeldImage, ImageSource } from "./images.ts";

/** Pull credentials for a pod (its imagePullSecrets and service account's). */
export type PodCredentials = (pod: k8s.V1Pod) => Promise<Credentials>;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

export function createStoreImageSource(
  images: ImageService,
  credentialsFor?: PodCredentials,
): ImageSource {
  return {
    async ensure(text, { pod, policy, signal, onProgress }): Promise<HeldImage> {
      let lastReport = 0;
      const result = await images.ensure(text, policy, {
        credentials: await credentialsFor?.(pod),
        signal,
        onProgress: (p) => {
          // A stalled registry is news at once (the pod's status says why it is waiting).
          if (p.state === "stalled") {
            return onProgress?.(`pulling ${text}: ${p.file}: ${p.message}`);
          }
          const now = Date.now();
          if (now - lastReport < 2_000) return;
          lastReport = now;
          const pct = p.totalBytes ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 0;
          onProgress?.(`pulling ${text}: ${p.file} ${pct}% of ${mib(p.totalBytes)}`);
        },
      });
      const holder = pod.metadata?.uid ?? text;
      await images.acquire(holder, result.manifestDigest);
      const ref = parseReference(text);
      return {
        image: vmImageFiles(result),
        imageID: `${ref.registry}/${ref.repository}@${result.manifestDigest}`,
        pulled: result.pulled,
        replaced: result.replaced,
        release: () => void images.release(holder),
      };
    },
  };
}
