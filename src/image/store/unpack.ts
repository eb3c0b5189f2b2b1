// Unpacking one layer into its place in a file: the compressed bytes are hashed as they
// arrive, gunzipped (node:zlib: native, handles multi-member gzip, which the web
// DecompressionStream does not), hashed again and written sparsely at the part's offset.
// Both digests and sizes are checked before this returns; a mismatch throws and the caller
// discards the file.

import zlib from "node:zlib";
import { once } from "node:events";
import { DigestCounter, verifyCounter } from "../format/digest.ts";
import type { FilePart } from "../format/layout.ts";
import { withContext } from "../../util/errors.ts";
import { SparseWriter, type SparseWriterStats } from "./sparse.ts";

export interface UnpackOptions {
  /** Write zeros instead of skipping them (region may hold stale bytes). */
  dense?: boolean;
  /** Prefix of error messages, e.g. `image REF: layer sha256:…`. */
  what: string;
  /** Called with uncompressed byte counts as they are written. */
  onWritten?: (n: number) => void;
}

/** Decompressed output chunk size: large chunks keep per-chunk overhead low. */
const OUT_CHUNK = 1 << 20;

async function* decompressed(
  input: ReadableStream<Uint8Array>,
  compression: FilePart["compression"],
  compressed: DigestCounter,
): AsyncGenerator<Uint8Array> {
  const reader = input.getReader();
  if (compression === "none") {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        compressed.update(value);
        yield value;
      }
    } finally {
      reader.releaseLock();
      await input.cancel().catch(() => {});
    }
  }
  const gunzip = zlib.createGunzip({ chunkSize: OUT_CHUNK });
  let stopped = false;
  const feed = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stopped) break;
        compressed.update(value);
        if (!gunzip.write(value)) await once(gunzip, "drain");
      }
      gunzip.end();
    } catch (err) {
      gunzip.destroy(err as Error);
    }
  })();
  try {
    for await (const out of gunzip) yield out as Uint8Array;
    await feed;
  } finally {
    stopped = true;
    gunzip.destroy();
    await reader.cancel().catch(() => {});
  }
}

/**
 * Streams one part into `file`, verifying the layer's digest and size and the part's
 * uncompressed digest and size. Returns how much was written and skipped.
 */
export async function unpackPart(
  input: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
  part: FilePart,
  opts: UnpackOptions,
): Promise<SparseWriterStats> {
  const compressed = new DigestCounter();
  const uncompressed = new DigestCounter();
  const writer = new SparseWriter(file, part.offset, opts.dense ?? false);
  try {
    for await (const chunk of decompressed(input, part.compression, compressed)) {
      uncompressed.update(chunk);
      if (uncompressed.bytes > part.size) {
        throw new Error(`more than the ${part.size} bytes announced`);
      }
      await writer.write(chunk);
      opts.onWritten?.(chunk.length);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("Z_")) {
      throw new Error(`${opts.what}: corrupt compressed data: ${(err as Error).message}`, {
        cause: err,
      });
    }
    throw withContext(err, opts.what);
  }
  verifyCounter(
    compressed,
    { digest: part.layer.digest, size: part.layer.size },
    `${opts.what}: compressed`,
  );
  if (part.compression !== "none") {
    verifyCounter(
      uncompressed,
      { digest: part.digest, size: part.size },
      `${opts.what}: uncompressed`,
    );
  }
  return writer.stats;
}
