// The image subsystem as the runtime and the VM backends use it: one ImageService per
// agent, owning the store under `<cacheDir>/images`. `ensure` gives a verified local image
// for a pod (pull policy, the pod's pull credentials, one shared pull per image),
// `acquire`/`release` keep an image from GC while a pod uses it, `clone` makes a pod's
// writable copy, and `startGc` prunes in the background.

import { cloneFile, type CloneMethod } from "./store/clone.ts";
import { anonymous, type Credentials } from "./registry/credentials.ts";
import { type GcSchedule, startImageGc } from "./store/gc.ts";
import type { Platform } from "./format/manifest.ts";
import { ensureImage, type EnsureResult, type PullPolicy } from "./pull/policy.ts";
import { activePulls, type PullProgress } from "./pull/pull.ts";
import { RegistryClient } from "./registry/client.ts";
import { parseReference } from "./registry/reference.ts";
import { ImageStore, type LocalImage } from "./store/store.ts";
import type { RetryPolicy } from "./registry/transport.ts";
import type { Logger } from "../telemetry/log.ts";
import type { LocalVmImage } from "../vm/types.ts";

export interface ImageServiceOptions {
  cacheDir: string;
  log: Logger;
  /** Registries reached over plain HTTP although not on loopback. */
  insecureRegistries?: string[];
  /** Extra CA certificates (PEM file) for registries. */
  caFile?: string;
  platform?: Platform;
  retry?: RetryPolicy;
  /** Allow full copies when the file system cannot clone (off: fail with a clear message). */
  allowCopy?: boolean;
}

export interface EnsureOptions {
  /** The pod's pull credentials (imagePullSecrets); anonymous when absent. */
  credentials?: Credentials;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
}

export class ImageService {
  private constructor(readonly store: ImageStore, private opts: ImageServiceOptions) {}

  static async open(opts: ImageServiceOptions): Promise<ImageService> {
    return new ImageService(await ImageStore.open(opts.cacheDir), opts);
  }

  /**
   * A verified local image for `image` under `policy`. Errors name the image and what
   * failed; AuthError (from errors.ts) means the registry refused the credentials.
   */
  async ensure(image: string, policy: PullPolicy, opts: EnsureOptions = {}): Promise<EnsureResult> {
    const client = new RegistryClient({
      credentials: opts.credentials ?? anonymous,
      insecureRegistries: this.opts.insecureRegistries,
      caFile: this.opts.caFile,
      retry: this.opts.retry,
      log: this.opts.log,
    });
    try {
      return await ensureImage(client, this.store, image, policy, {
        shareKey: await credentialKey(opts.credentials ?? anonymous, image),
        platform: this.opts.platform,
        signal: opts.signal,
        onProgress: opts.onProgress,
        log: this.opts.log,
      });
    } finally {
      client.close();
    }
  }

  /** Marks the image in use by `holder` (the pod UID) until release. */
  acquire(holder: string, manifestDigest: string): Promise<void> {
    return this.store.acquire(holder, manifestDigest);
  }

  release(holder: string): Promise<void> {
    return this.store.release(holder);
  }

  /** Copy-on-write clone of an image file for a pod (see clone.ts). */
  clone(src: string, dst: string): Promise<CloneMethod> {
    return cloneFile(src, dst, { allowCopy: this.opts.allowCopy });
  }

  /** Background GC; returns stop(). */
  startGc(schedule: GcSchedule): () => void {
    return startImageGc(this.store, schedule, activePulls, this.opts.log);
  }
}

/** A short fingerprint of the credentials used for `image`'s registry ("" when anonymous). */
async function credentialKey(credentials: Credentials, image: string): Promise<string> {
  let registry: string;
  try {
    registry = parseReference(image).registry;
  } catch {
    return "";
  }
  const c = await credentials.forRegistry(registry).catch(() => undefined);
  if (!c) return "";
  const bytes = new TextEncoder().encode(JSON.stringify(c));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A pulled image's local files as the VM backends take them (read-only: clone first). */
export type VmImageFiles = LocalVmImage;

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function vmImageFiles(image: LocalImage): VmImageFiles {
  const disk = image.files.disk;
  if (!disk) throw new Error(`image ${image.reference}: has no disk file`);
  return {
    os: image.os,
    disk,
    aux: image.files.aux,
    kernel: image.files.kernel,
    initrd: image.files.initrd,
    cmdline: image.linux?.cmdline,
    hardwareModel: image.darwin ? fromBase64(image.darwin.hardwareModelData) : undefined,
    machineId: image.darwin ? fromBase64(image.darwin.machineIdData) : undefined,
  };
}
