// The runtime's ImageSource over the image store (src/image): pull policy, one shared pull
// per image, a lease per pod so garbage collection never removes an image in use, and the
// store's files mapped to what a VM backend boots.

import type * as k8s from "@kubernetes/client-node";
import { ImageStore, type LocalImage } from "../image/store.ts";
import { pullImage } from "../image/pull.ts";
import { formatReference, parseReference } from "../image/reference.ts";
import { RegistryClient } from "../image/registry.ts";
import type { Credentials } from "../image/credentials.ts";
import type { Logger } from "../telemetry/log.ts";
import type { LocalVmImage } from "../vm/types.ts";
import type { HeldImage, ImageSource, PullPolicy } from "./images.ts";

export interface StoreImageSourceOptions {
  cacheDir: string;
  log: Logger;
  insecureRegistries?: string[];
  /** Pull credentials for a pod (its imagePullSecrets and service account's). */
  credentialsFor?: (pod: k8s.V1Pod) => Promise<Credentials>;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

export function toVmImage(img: LocalImage): LocalVmImage {
  const b64 = (s?: string) => (s ? Uint8Array.from(atob(s), (c) => c.charCodeAt(0)) : undefined);
  return {
    os: img.os,
    disk: img.files.disk!,
    aux: img.files.aux,
    kernel: img.files.kernel,
    initrd: img.files.initrd,
    cmdline: img.linux?.cmdline,
    hardwareModel: b64(img.darwin?.hardwareModelData),
    machineId: b64(img.darwin?.machineIdData),
  };
}

export async function createStoreImageSource(opts: StoreImageSourceOptions): Promise<ImageSource> {
  const store = await ImageStore.open(opts.cacheDir);
  return {
    async ensure(text, { pod, policy, signal, onProgress }): Promise<HeldImage> {
      const ref = parseReference(text);
      const name = formatReference(ref);
      let local: LocalImage | undefined = policy === "Always"
        ? undefined
        : await store.lookup(name);
      let pulled = false;
      let replaced: string[] = [];
      if (!local) {
        if (policy === ("Never" satisfies PullPolicy)) {
          throw new Error(
            `image ${name} is not on this node and imagePullPolicy is Never; ` +
              `pull it first or change the policy`,
          );
        }
        const credentials = await opts.credentialsFor?.(pod);
        const client = new RegistryClient({
          credentials,
          insecureRegistries: opts.insecureRegistries,
          log: opts.log,
        });
        let lastReport = 0;
        const result = await pullImage(client, store, ref, {
          signal,
          log: opts.log,
          onProgress: (p) => {
            const now = Date.now();
            if (now - lastReport < 2_000) return;
            lastReport = now;
            const pct = p.totalBytes ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 0;
            onProgress?.(`pulling ${name}: ${p.file} ${pct}% of ${mib(p.totalBytes)}`);
          },
        });
        local = result;
        pulled = result.downloadedBytes > 0;
        replaced = result.replaced;
      }
      const holder = pod.metadata?.uid ?? name;
      await store.acquire(holder, local.manifestDigest);
      await store.touch(local.manifestDigest);
      return {
        image: toVmImage(local),
        imageID: `${ref.registry}/${ref.repository}@${local.manifestDigest}`,
        pulled,
        replaced,
        release: () => void store.release(holder),
      };
    },
  };
}
