// Pushing a VM image: compresses the guest files with the parallel gzip encoder into temp
// files, uploads them (skipping blobs the registry has), then pushes the manifest last so
// the tag never points at an incomplete image. Writes the existing Agoda form for macOS
// guests by default (what the Go system pulls), or our own form for Linux guests and for
// `--chunked` disks (see docs/image-format.md).

import { withContext } from "../../util/errors.ts";
import type { DarwinConfig, FileRole, VzkConfig } from "../format/layout.ts";
import { DeflatePool, gzipRangeToFile } from "./gzip_parallel.ts";
import type { Descriptor, ImageManifest } from "../format/manifest.ts";
import { encodeJson } from "../format/manifest.ts";
import * as MT from "../format/media_types.ts";
import { formatReference, type ImageReference } from "../registry/reference.ts";
import type { RegistryClient } from "../registry/client.ts";
import { tempPath } from "../store/store_fs.ts";
import { fileSource, memorySource, uploadBlob } from "../registry/upload.ts";
import { sha256Of } from "../format/digest.ts";
import type { Logger } from "../../telemetry/log.ts";
import { silentLogger } from "../../telemetry/log.ts";

export interface PushInputs {
  os: "darwin" | "linux";
  /** Guest files by role: darwin needs disk and aux; linux needs kernel and disk. */
  files: Partial<Record<FileRole, string>>;
  darwin?: DarwinConfig;
  /** Kernel command line of a Linux guest. */
  cmdline?: string;
  architecture?: string;
}

export interface PushProgress {
  file: string;
  /** Input bytes compressed so far and in total. */
  doneBytes: number;
  totalBytes: number;
}

export interface PushOptions {
  chunked?: boolean;
  /** Bytes per chunk of the chunked form (default 512 MiB). */
  chunkSize?: number;
  /** Uploads in flight at once. */
  concurrency?: number;
  level?: number;
  tmpDir: string;
  signal?: AbortSignal;
  onProgress?: (p: PushProgress) => void;
  log?: Logger;
  /** Deflate workers (default: one per CPU). */
  workers?: number;
}

export const DEFAULT_CHUNK_SIZE = 512 << 20;

const FILE_NAMES: Record<FileRole, string> = {
  disk: "disk.img",
  aux: "aux.img",
  kernel: "vmlinuz",
  initrd: "initrd.img",
};

interface Ctx {
  client: RegistryClient;
  ref: ImageReference;
  pool: DeflatePool;
  opts: PushOptions;
}

/** Compresses [offset, offset+length) of `path` and uploads it; resolves with the layer. */
async function packAndUpload(
  ctx: Ctx,
  path: string,
  offset: number,
  length: number,
  progress: (n: number) => void,
  describe: (g: { digest: string; size: number; uDigest?: string; uSize: number }) => Descriptor,
  hashInput = true,
): Promise<Descriptor> {
  const tmp = tempPath(ctx.opts.tmpDir, "push");
  try {
    const g = await gzipRangeToFile(ctx.pool, path, offset, length, tmp, {
      level: ctx.opts.level,
      signal: ctx.opts.signal,
      onInput: progress,
      hashInput,
    });
    const desc = describe({
      digest: g.compressedDigest,
      size: g.compressedSize,
      uDigest: g.uncompressedDigest,
      uSize: g.uncompressedSize,
    });
    const source = await fileSource(tmp);
    try {
      await uploadBlob(ctx.client, ctx.ref, desc.digest, source, { signal: ctx.opts.signal });
    } finally {
      source.close?.();
    }
    return desc;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

async function uploadRaw(
  ctx: Ctx,
  path: string,
  mediaType: string,
  title: string,
): Promise<Descriptor> {
  const bytes = await Deno.readFile(path);
  const digest = sha256Of(bytes);
  await uploadBlob(ctx.client, ctx.ref, digest, memorySource(bytes), { signal: ctx.opts.signal });
  return { mediaType, digest, size: bytes.length, annotations: { [MT.ANNOTATION_TITLE]: title } };
}

function reporter(ctx: Ctx, file: string, total: number): (n: number) => void {
  let done = 0;
  return (n) => {
    done += n;
    ctx.opts.onProgress?.({ file, doneBytes: done, totalBytes: total });
  };
}

/** Chunked layers of one file; up to `concurrency` chunks compress/upload at once. */
async function chunkedLayers(ctx: Ctx, path: string, title: string): Promise<Descriptor[]> {
  const size = (await Deno.stat(path)).size;
  const chunkSize = ctx.opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const progress = reporter(ctx, title, size);
  const offsets: number[] = [];
  for (let at = 0; at < size || (size === 0 && offsets.length === 0); at += chunkSize) {
    offsets.push(at);
    if (size === 0) break;
  }
  const layers: Descriptor[] = new Array(offsets.length);
  let next = 0;
  const worker = async () => {
    while (next < offsets.length) {
      const i = next++;
      const offset = offsets[i];
      const length = Math.min(chunkSize, size - offset);
      // No uncompressed digest on a chunk: its layer digest pins the bytes and gzip's CRC-32
      // and length check the inflated result, so a second SHA-256 at every pull (most of a
      // chunk lane's CPU) would check nothing more; the input is not hashed here either.
      const describe = (g: { digest: string; size: number; uSize: number }) => ({
        mediaType: MT.VZK_CHUNK_GZIP,
        digest: g.digest,
        size: g.size,
        annotations: {
          [MT.ANNOTATION_TITLE]: title,
          [MT.VZK_CHUNK_OFFSET]: String(offset),
          [MT.VZK_UNCOMPRESSED_SIZE]: String(g.uSize),
          [MT.VZK_FILE_SIZE]: String(size),
        },
      });
      layers[i] = await packAndUpload(ctx, path, offset, length, progress, describe, false);
    }
  };
  const n = Math.max(1, Math.min(ctx.opts.concurrency ?? 2, offsets.length));
  await Promise.all(Array.from({ length: n }, worker));
  return layers;
}

async function gzipLayer(ctx: Ctx, path: string, mediaType: string, title: string, agoda: boolean) {
  const size = (await Deno.stat(path)).size;
  return await packAndUpload(ctx, path, 0, size, reporter(ctx, title, size), (g) => ({
    mediaType,
    digest: g.digest,
    size: g.size,
    annotations: {
      [MT.ANNOTATION_TITLE]: title,
      // Hashed: packAndUpload hashes the input unless told not to.
      [agoda ? MT.AGODA_UNCOMPRESSED_DIGEST : MT.VZK_UNCOMPRESSED_DIGEST]: g.uDigest!,
      [agoda ? MT.AGODA_UNCOMPRESSED_SIZE : MT.VZK_UNCOMPRESSED_SIZE]: String(g.uSize),
    },
  }));
}

/** The Agoda config.json document, fields in the Go system's order. */
export function agodaConfigJson(darwin: DarwinConfig): Uint8Array {
  return encodeJson({
    mediatype: MT.AGODA_CONFIG,
    os: "darwin",
    hardwareModelData: darwin.hardwareModelData,
    machineIdData: darwin.machineIdData,
    storage: [
      { mediatype: MT.AGODA_AUX, file: FILE_NAMES.aux },
      { mediatype: MT.AGODA_DISK, file: FILE_NAMES.disk },
    ],
  });
}

async function agodaManifest(ctx: Ctx, inputs: PushInputs): Promise<ImageManifest> {
  const darwin = inputs.darwin!;
  const [disk, aux] = await Promise.all([
    gzipLayer(ctx, inputs.files.disk!, MT.AGODA_DISK, FILE_NAMES.disk, true),
    gzipLayer(ctx, inputs.files.aux!, MT.AGODA_AUX, FILE_NAMES.aux, true),
  ]);
  const configBytes = agodaConfigJson(darwin);
  const configDigest = sha256Of(configBytes);
  await uploadBlob(ctx.client, ctx.ref, configDigest, memorySource(configBytes));
  const empty = new TextEncoder().encode(MT.OCI_EMPTY_DATA);
  await uploadBlob(ctx.client, ctx.ref, MT.OCI_EMPTY_DIGEST, memorySource(empty));
  return {
    schemaVersion: 2,
    mediaType: MT.OCI_MANIFEST,
    artifactType: MT.AGODA_ARTIFACT,
    config: {
      mediaType: MT.OCI_EMPTY,
      digest: MT.OCI_EMPTY_DIGEST,
      size: 2,
      data: btoa(MT.OCI_EMPTY_DATA),
      platform: { ...MT.DARWIN_ARM64 },
    },
    layers: [
      disk,
      aux,
      {
        mediaType: MT.AGODA_CONFIG,
        digest: configDigest,
        size: configBytes.length,
        annotations: { [MT.ANNOTATION_TITLE]: "config.json" },
      },
    ],
    annotations: { [MT.ANNOTATION_CREATED]: new Date().toISOString() },
  };
}

async function vzkManifest(ctx: Ctx, inputs: PushInputs): Promise<ImageManifest> {
  const config: VzkConfig = {
    os: inputs.os,
    architecture: inputs.architecture ?? (inputs.os === "darwin" ? "arm64" : undefined),
    files: {},
  };
  if (inputs.os === "darwin") config.darwin = inputs.darwin;
  else config.linux = { cmdline: inputs.cmdline ?? "" };
  const jobs: Promise<Descriptor[]>[] = [];
  for (const role of ["disk", "aux", "kernel", "initrd"] as FileRole[]) {
    const path = inputs.files[role];
    if (!path) continue;
    const title = FILE_NAMES[role];
    config.files[role] = title;
    if (role === "kernel" || role === "initrd") {
      jobs.push(uploadRaw(ctx, path, MT.VZK_FILE, title).then((d) => [d]));
    } else if (role === "disk" && ctx.opts.chunked) {
      jobs.push(chunkedLayers(ctx, path, title));
    } else {
      jobs.push(gzipLayer(ctx, path, MT.VZK_FILE_GZIP, title, false).then((d) => [d]));
    }
  }
  const layers = (await Promise.all(jobs)).flat();
  const configBytes = encodeJson(config);
  const configDigest = sha256Of(configBytes);
  await uploadBlob(ctx.client, ctx.ref, configDigest, memorySource(configBytes));
  return {
    schemaVersion: 2,
    mediaType: MT.OCI_MANIFEST,
    artifactType: MT.VZK_ARTIFACT,
    config: { mediaType: MT.VZK_CONFIG, digest: configDigest, size: configBytes.length },
    layers,
    annotations: { [MT.ANNOTATION_CREATED]: new Date().toISOString() },
  };
}

function checkInputs(inputs: PushInputs): void {
  const need: FileRole[] = inputs.os === "darwin" ? ["disk", "aux"] : ["kernel", "disk"];
  for (const role of need) {
    if (!inputs.files[role]) throw new Error(`a ${inputs.os} image needs a ${role} file`);
  }
  if (
    inputs.os === "darwin" && (!inputs.darwin?.hardwareModelData || !inputs.darwin.machineIdData)
  ) {
    throw new Error("a darwin image needs the hardware model and machine identifier");
  }
}

/** Pushes an image and returns the manifest digest. */
export async function pushImage(
  client: RegistryClient,
  ref: ImageReference,
  inputs: PushInputs,
  opts: PushOptions,
): Promise<{ digest: string; manifest: ImageManifest }> {
  const what = `image ${formatReference(ref)}`;
  const log = opts.log ?? silentLogger;
  checkInputs(inputs);
  await Deno.mkdir(opts.tmpDir, { recursive: true });
  const pool = new DeflatePool(opts.workers);
  const ctx: Ctx = { client, ref, pool, opts };
  try {
    const agoda = inputs.os === "darwin" && !opts.chunked;
    const manifest = agoda ? await agodaManifest(ctx, inputs) : await vzkManifest(ctx, inputs);
    const bytes = encodeJson(manifest);
    const digest = await client.putManifest(ref, bytes, MT.OCI_MANIFEST);
    log.info("image pushed", {
      image: formatReference(ref),
      manifest: digest,
      form: agoda ? "agoda" : "vzk",
    });
    return { digest, manifest };
  } catch (err) {
    throw withContext(err, what);
  } finally {
    pool.close();
  }
}

/** Reads `B64` or `@FILE` (file holding raw bytes, or base64 text) as base64. */
export async function base64Arg(value: string, what: string): Promise<string> {
  if (!value.startsWith("@")) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) throw new Error(`${what}: not base64`);
    return value;
  }
  const path = value.slice(1);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(`${what}: cannot read ${path}: ${(err as Error).message}`);
  }
  const text = new TextDecoder().decode(bytes).trim();
  if (/^[A-Za-z0-9+/\s]+={0,2}$/.test(text) && text.length % 4 === 0) {
    return text.replace(/\s/g, "");
  }
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
