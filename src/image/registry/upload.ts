// Uploading blobs to a registry: skipped when the repository already has the digest;
// small blobs in one POST+PUT; large ones as a sequence of PATCH parts of known length (the
// OCI "chunked upload"), so memory holds one part and a failed part resumes from the offset
// the registry reports instead of starting over.

import { digestHex } from "../format/digest.ts";
import { isRetryable, RegistryError } from "./errors.ts";
import { withContext } from "../../util/errors.ts";
import { formatReference, type ImageReference } from "./reference.ts";
import type { RegistryClient } from "./client.ts";

/** Random-access source of a blob's bytes (a file on disk, or memory). */
export interface BlobSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): void;
}

export interface UploadOptions {
  /** Bytes per PATCH request; blobs up to this size go in one PUT. */
  partSize?: number;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

const DEFAULT_PART = 32 << 20;

export function memorySource(bytes: Uint8Array): BlobSource {
  return {
    size: bytes.byteLength,
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)),
  };
}

/** A BlobSource reading a file; each read opens its own position, so reads may overlap. */
export async function fileSource(path: string): Promise<BlobSource> {
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  return {
    size,
    async read(offset, length) {
      const buf = new Uint8Array(Math.min(length, size - offset));
      await file.seek(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < buf.length) {
        const n = await file.read(buf.subarray(got));
        if (n === null) throw new Error(`${path}: file shrank while uploading`);
        got += n;
      }
      return buf;
    },
    close: () => file.close(),
  };
}

function withQuery(location: string, key: string, value: string): string {
  const url = new URL(location);
  url.searchParams.set(key, value);
  return url.toString();
}

async function startUpload(client: RegistryClient, ref: ImageReference): Promise<string> {
  const response = await client.request(ref, {
    method: "POST",
    path: "blobs/uploads/",
    push: true,
    body: () => undefined,
  });
  await response.body?.cancel();
  const location = response.headers.get("location");
  if (!location) {
    throw new RegistryError(
      `registry ${ref.registry}: upload started without a Location`,
      ref.registry,
      response.status,
    );
  }
  return new URL(location, await client.url(ref, "")).toString();
}

/** Bytes the registry holds for an upload session (from its Range header `0-<last>`). */
async function uploadedSoFar(
  client: RegistryClient,
  ref: ImageReference,
  location: string,
): Promise<number> {
  const response = await client.request(ref, { path: location, push: true });
  await response.body?.cancel();
  const range = response.headers.get("range");
  const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range) : null;
  return m ? Number(m[1]) + 1 : 0;
}

/**
 * Uploads one blob unless present. Returns "exists" or "uploaded". Errors name the image,
 * the blob and the step.
 */
export async function uploadBlob(
  client: RegistryClient,
  ref: ImageReference,
  digest: string,
  source: BlobSource,
  opts: UploadOptions = {},
): Promise<"exists" | "uploaded"> {
  const what = `image ${formatReference(ref)}: blob ${digest}`;
  digestHex(digest);
  try {
    if (await client.hasBlob(ref, digest, true)) {
      opts.onBytes?.(source.size);
      return "exists";
    }
    const partSize = opts.partSize ?? DEFAULT_PART;
    if (source.size <= partSize) {
      const bytes = await source.read(0, source.size);
      await client.transport.withRetries(`${what}: upload`, async () => {
        const location = await startUpload(client, ref);
        const response = await client.request(ref, {
          method: "PUT",
          path: withQuery(location, "digest", digest),
          headers: { "Content-Type": "application/octet-stream" },
          body: () => bytes as Uint8Array<ArrayBuffer>,
          push: true,
          retry: false,
          signal: opts.signal,
        });
        await response.body?.cancel();
      });
      opts.onBytes?.(source.size);
      return "uploaded";
    }
    let location = await startUpload(client, ref);
    let offset = 0;
    let failures = 0;
    while (offset < source.size) {
      const length = Math.min(partSize, source.size - offset);
      const part = await source.read(offset, length);
      try {
        const response = await client.request(ref, {
          method: "PATCH",
          path: location,
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Range": `${offset}-${offset + length - 1}`,
          },
          body: () => part as Uint8Array<ArrayBuffer>,
          push: true,
          retry: false,
          signal: opts.signal,
        });
        await response.body?.cancel();
        const next = response.headers.get("location");
        if (next) location = new URL(next, location).toString();
        offset += length;
        failures = 0;
        opts.onBytes?.(length);
      } catch (err) {
        failures++;
        if (!isRetryable(err) || failures >= client.transport.retry.attempts) throw err;
        await new Promise((r) => setTimeout(r, client.transport.backoffMs(failures)));
        const had = await uploadedSoFar(client, ref, location).catch(() => -1);
        if (had < 0) {
          location = await startUpload(client, ref);
          opts.onBytes?.(-offset);
          offset = 0;
        } else {
          opts.onBytes?.(had - offset);
          offset = had;
        }
      }
    }
    const response = await client.request(ref, {
      method: "PUT",
      path: withQuery(location, "digest", digest),
      body: () => undefined,
      push: true,
      signal: opts.signal,
    });
    await response.body?.cancel();
    return "uploaded";
  } catch (err) {
    throw withContext(err, `${what}: upload`);
  }
}
