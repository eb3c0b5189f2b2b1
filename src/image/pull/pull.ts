// Pulling a VM image into the content store: resolve the manifest, fetch and verify the
// config document, check free space, then make every guest file present and verified
// (fetch_file.ts), and finally record the image and its reference. Concurrent pulls of one
// reference share one flight; concurrent needs of one file share one download.

import { withContext } from "../../util/errors.ts";
import { configDescriptor, imageLayout, type VmImageLayout } from "../format/layout.ts";
import { hostPlatform, type Platform } from "../format/manifest.ts";
import { formatReference, type ImageReference, withDigest } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { SingleFlight } from "../store/singleflight.ts";
import { type ImageRecord, type ImageStore, type LocalImage } from "../store/store.ts";
import { freeBytes, writeFileAtomic } from "../store/store_fs.ts";
import { ensureFile, type FileProgress } from "./fetch_file.ts";
import { markPull } from "../store/pull_marks.ts";
import type { Logger } from "../../telemetry/log.ts";
import { silentLogger } from "../../telemetry/log.ts";

export interface PullProgress extends FileProgress {
  reference: string;
}

export interface PullOptions {
  /** Platform for image indexes; default: darwin/arm64 for macOS hosts, else this host's. */
  platform?: Platform;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /** Parallel chunk downloads per file (chunked form). */
  concurrency?: number;
  /** Bytes that must stay free beyond the download (default 1 GiB). */
  reserveBytes?: number;
  log?: Logger;
  /**
   * Identifies the credentials behind this pull (e.g. a hash of them). Concurrent pulls share
   * one flight only when this matches too: a pod must never fail on, or ride on, another
   * pod's credentials.
   */
  shareKey?: string;
}

export interface PullResult extends LocalImage {
  /** Files found changed since verification and pulled again (the runtime warns about these). */
  replaced: string[];
  /** Compressed bytes actually downloaded by this pull. */
  downloadedBytes: number;
}

const DEFAULT_RESERVE = 1 << 30;

/** Platform chosen from image indexes: darwin/arm64 on macOS hosts, else this host's. */
export function defaultPlatform(): Platform {
  return Deno.build.os === "darwin" ? { os: "darwin", architecture: "arm64" } : hostPlatform();
}

/** Throws when the file system holding `dir` lacks room for the image's layers plus reserve. */
export async function checkFreeSpace(
  dir: string,
  layout: VmImageLayout,
  reserve: number,
  what: string,
): Promise<void> {
  const free = await freeBytes(dir);
  const need = needsSpace(layout) + reserve;
  if (free < need) {
    throw new Error(
      `${what}: not enough free space in ${dir}: ${free} bytes free, ` +
        `the download needs up to ${need} (layers plus reserve)`,
    );
  }
}

/** Flights keyed by canonical reference; one table per process. */
const imageFlights = new SingleFlight<PullResult, PullProgress>();

/** Manifest digests being pulled by this process right now (GC keeps them). */
const active = new Map<string, number>();

export function activePulls(): Set<string> {
  return new Set(active.keys());
}

/** How many pulls really started (for tests of sharing). */
export function pullsStarted(): number {
  return imageFlights.started;
}

export function needsSpace(layout: VmImageLayout): number {
  return layout.files.reduce((n, f) => n + f.parts.reduce((m, p) => m + p.layer.size, 0), 0);
}

/** The manifest, config and layout of an image, all verified. */
export interface ResolvedImage {
  manifestDigest: string;
  manifestBytes: Uint8Array;
  indexDigest?: string;
  layout: VmImageLayout;
  configDigest: string;
}

export async function resolveImage(
  client: RegistryClient,
  ref: ImageReference,
  platform: Platform,
): Promise<ResolvedImage> {
  const what = `image ${formatReference(ref)}`;
  try {
    const fetched = await client.resolveManifest(ref, platform);
    const configDesc = configDescriptor(fetched.manifest);
    const configBytes = await client.fetchSmallBlob(ref, configDesc, 1 << 20);
    const layout = imageLayout(fetched.manifest, configBytes);
    return {
      manifestDigest: fetched.digest,
      manifestBytes: fetched.bytes,
      indexDigest: fetched.indexDigest,
      layout,
      configDigest: configDesc.digest,
    };
  } catch (err) {
    throw withContext(err, what);
  }
}

async function pullOnce(
  client: RegistryClient,
  store: ImageStore,
  ref: ImageReference,
  opts: PullOptions,
  signal: AbortSignal,
  emit: (p: PullProgress) => void,
): Promise<PullResult> {
  const log = opts.log ?? silentLogger;
  const reference = formatReference(ref);
  const platform = opts.platform ?? defaultPlatform();
  const resolved = await resolveImage(client, ref, platform);
  const { layout, manifestDigest } = resolved;
  await writeFileAtomic(store.layout.blobPath(manifestDigest), resolved.manifestBytes);
  await writeFileAtomic(store.layout.blobPath(resolved.configDigest), layout.configBytes);
  const pinned = withDigest(ref, manifestDigest);
  const what = `image ${reference}`;

  await checkFreeSpace(store.layout.root, layout, opts.reserveBytes ?? DEFAULT_RESERVE, what);

  const replaced: string[] = [];
  let downloadedBytes = 0;
  const unmark = await markPull(store.layout.root, manifestDigest, layout.files.map((f) => f.id));
  active.set(manifestDigest, (active.get(manifestDigest) ?? 0) + 1);
  // One file failing stops the others, and the pull returns only once every file has
  // settled: no download keeps running and no temp file is left behind.
  const stop = new AbortController();
  let cause: unknown;
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    const results = await Promise.allSettled(layout.files.map(async (file) => {
      try {
        const result = await ensureFile(client, store, pinned, file, {
          signal: stop.signal,
          label: reference,
          concurrency: opts.concurrency,
          log,
          onProgress: (p) => emit({ ...p, reference }),
        });
        if (result.replaced) replaced.push(file.name);
        downloadedBytes += result.downloadedBytes;
      } catch (err) {
        if (!stop.signal.aborted) cause = err;
        // The other files stop with an error of their own: had they been given this one,
        // each would prefix its own name to it (withContext), and the pull's error would
        // name whichever file settled last instead of the one that failed.
        stop.abort(new Error(`stopped: ${file.name} failed`, { cause: err }));
        throw err;
      }
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw cause ?? failed.reason;
    return await recordPull(store, reference, resolved, replaced, downloadedBytes, log);
  } finally {
    signal.removeEventListener("abort", onAbort);
    await unmark();
    const n = (active.get(manifestDigest) ?? 1) - 1;
    if (n <= 0) active.delete(manifestDigest);
    else active.set(manifestDigest, n);
  }
}

async function recordPull(
  store: ImageStore,
  reference: string,
  resolved: ResolvedImage,
  replaced: string[],
  downloadedBytes: number,
  log: Logger,
): Promise<PullResult> {
  const { layout, manifestDigest } = resolved;
  const what = `image ${reference}`;

  const now = new Date().toISOString();
  const previous = await store.readImage(manifestDigest);
  const record: ImageRecord = {
    manifestDigest,
    references: [...new Set([...(previous?.references ?? []), reference])],
    os: layout.os,
    form: layout.form,
    configDigest: resolved.configDigest,
    files: layout.files.map((f) => ({ role: f.role, name: f.name, id: f.id, size: f.size })),
    compressedSize: needsSpace(layout),
    darwin: layout.darwin,
    linux: layout.linux,
    pulledAt: previous?.pulledAt ?? now,
    lastUsedAt: now,
  };
  await store.writeImage(record);
  await store.writeRef({
    reference,
    manifestDigest,
    indexDigest: resolved.indexDigest,
    updatedAt: now,
  });
  // A file removed between download and record (a concurrent prune) must not go unnoticed.
  const checks = await store.validate(record);
  const bad = checks.find((c) => c.validity !== "valid");
  if (bad) {
    throw new Error(
      `${what}: ${bad.file.name} is ${bad.validity} in the store right after the pull ` +
        `(removed or modified meanwhile); pull again`,
    );
  }
  log.info("image pulled", { image: reference, manifest: manifestDigest, downloadedBytes });
  return { ...store.toLocal(reference, record), replaced, downloadedBytes };
}

/**
 * Pulls `ref` into the store (downloading only what is missing or changed) and returns
 * the local image. Concurrent calls for the same reference share one pull.
 */
export function pullImage(
  client: RegistryClient,
  store: ImageStore,
  ref: ImageReference,
  opts: PullOptions = {},
): Promise<PullResult> {
  const platform = opts.platform ?? defaultPlatform();
  const key = `${store.layout.root}\n${
    formatReference(ref)
  }\n${platform.os}/${platform.architecture}\n${opts.shareKey ?? ""}`;
  return imageFlights.run(
    key,
    ({ signal, emit }) => pullOnce(client, store, ref, { ...opts, platform }, signal, emit),
    { signal: opts.signal, onProgress: opts.onProgress },
  );
}
