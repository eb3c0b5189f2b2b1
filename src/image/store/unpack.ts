// Unpacking one layer into its place in a file: the compressed bytes are hashed as they
// arrive, gunzipped (node:zlib's native inflater, which handles multi-member gzip: the web
// DecompressionStream does not, and was measured 4x slower here), hashed again and
// written sparsely at the part's offset. The inflater writes into a ring of reused
// buffers (inflate.ts). With `hash: "worker"` those buffers live in one SharedArrayBuffer
// that a hash worker reads in place (hash_client.ts), so a gzip layer keeps two cores
// busy: this thread reads (into its own buffers), inflates, hashes the compressed bytes
// (a sixth of the total) and writes (sparse.ts); the worker hashes the uncompressed
// stream, the largest single piece of work (SHA-256 runs at ~1.5 GB/s with SHA-NI here,
// inflate at ~3 GB/s of output). Chunks of a chunked file run this inline, one chunk
// lane per worker thread (pull/chunk_lane.ts). Both digests and sizes are checked before
// this returns; a mismatch throws and the caller discards the file. A chunk that carries
// no uncompressed digest (docs/image-format.md) is not hashed a second time: its layer
// digest pins its bytes, and zlib checks gzip's CRC-32 and length of what they inflate to.

import zlib from "node:zlib";
import { once } from "node:events";
import { DigestMismatchError, verifyDigest } from "../format/digest.ts";
import type { FilePart } from "../format/layout.ts";
import { withContext } from "../../util/errors.ts";
import { SparseWriter, type SparseWriterStats } from "./sparse.ts";
import { BufferRing, type Inflater, openInflater } from "./inflate.ts";
import { type Hasher, InlineHasher } from "./hashers.ts";
import { HashWorker } from "./hash_client.ts";

export interface UnpackOptions {
  /** Write zeros instead of skipping them (region may hold stale bytes). */
  dense?: boolean;
  /** Prefix of error messages, e.g. `image REF: layer sha256:…`. */
  what: string;
  /** Called with uncompressed byte counts as they are written. */
  onWritten?: (n: number) => void;
  /** Where the two SHA-256 run: on this thread (default), or on a hash worker beside it. */
  hash?: "inline" | "worker";
  /**
   * Buffers for inline unpacks that follow one another (a chunk lane's): fresh ones per
   * chunk wait for the garbage collector, +7 MB of peak RSS per lane on a 16-chunk pull.
   */
  rings?: InlineRings;
  /**
   * Opens the native inflater (default: inflate.ts's). A test passes one that finds no
   * handle, as under a Deno without it, to run the stream fallback.
   */
  openInflater?: () => Inflater | undefined;
}

export interface InlineRings {
  input: BufferRing;
  output: BufferRing;
}

const MiB = 1 << 20;
/**
 * Ring buffers of 1 MiB: output (inflated) and input (network reads). With the hash
 * worker, output buffers wait for it and reads go on meanwhile; inline, a buffer is free
 * again as soon as it has been written, so two and one are enough.
 */
const RING = { worker: { out: 6, in: 3 }, inline: { out: 2, in: 1 } };

/** Buffers for a series of inline unpacks, one after another. */
export function newInlineRings(): InlineRings {
  return {
    input: new BufferRing(RING.inline.in, MiB),
    output: new BufferRing(RING.inline.out, MiB),
  };
}

/** A piece of output; `ring` is its buffer's index when it is one of the ring's. */
interface Piece {
  data: Uint8Array;
  ring?: number;
}

interface Plan {
  compressed: Hasher;
  /** Absent when the part has no uncompressed digest to check. */
  uncompressed?: Hasher;
  /** Input buffers (absent: fresh ones, for the stream fallback that keeps them). */
  input?: BufferRing;
  output: BufferRing;
  inflater?: Inflater;
  close(): void;
}

function plan(part: FilePart, opts: UnpackOptions): Plan {
  const inflater = part.compression === "gzip" ? (opts.openInflater ?? openInflater)() : undefined;
  if (inflater && opts.hash === "worker" && part.digest !== undefined) {
    const worker = new HashWorker(new SharedArrayBuffer(RING.worker.out * MiB));
    return {
      // Compressed bytes are hashed here: the network reads into the input buffers, which
      // a byte stream takes over while it fills them, so they cannot be shared memory.
      compressed: new InlineHasher(),
      uncompressed: worker.hasher,
      input: new BufferRing(RING.worker.in, MiB),
      output: new BufferRing(RING.worker.out, MiB, worker.shared),
      inflater,
      close: () => {
        worker.close();
        inflater.close();
      },
    };
  }
  return {
    compressed: new InlineHasher(),
    // Keyed on the part, not on the inflater: the stream fallback checks the digest too.
    uncompressed: part.compression === "gzip" && part.digest !== undefined
      ? new InlineHasher()
      : undefined,
    input: inflater ? opts.rings?.input ?? new BufferRing(RING.inline.in, MiB) : undefined,
    output: opts.rings?.output ?? new BufferRing(RING.inline.out, MiB),
    inflater,
    close: () => inflater?.close(),
  };
}

/** Where compressed bytes come from: a byte stream read into our buffers, or chunks. */
type Source =
  | { byob: ReadableStreamBYOBReader }
  | { chunks: ReadableStreamDefaultReader<Uint8Array> };

/**
 * The stream's bytes in pieces of 1 MiB (the last one shorter), each hashed as the
 * compressed stream. With a ring, pieces are its buffers, held until hashed. A byte stream
 * (the registry's blob stream, a file) is read straight into the ring's buffers: no chunk
 * is allocated per network read, which with two chunk lanes left ~20 MB of read chunks
 * waiting for the garbage collector.
 */
async function* batched(
  source: Source,
  hasher: Hasher,
  ring?: BufferRing,
): AsyncGenerator<Uint8Array> {
  const next = async () => ring ? await ring.take() : { buf: new Uint8Array(MiB), index: -1 };
  let cur = await next();
  let fill = 0;
  const emit = (piece: Uint8Array) => {
    hasher.update(piece);
    if (ring) ring.hold(cur.index, hasher.hashed());
    return piece;
  };
  if ("byob" in source) {
    for (;;) {
      // The read takes the buffer over and hands it back (a transferred ArrayBuffer).
      const { done, value } = await source.byob.read(cur.buf.subarray(fill));
      if (value) {
        cur.buf = new Uint8Array(value.buffer);
        ring?.replace(cur.index, cur.buf);
      }
      if (done || !value) break;
      fill += value.byteLength;
      if (fill === MiB) {
        yield emit(cur.buf);
        cur = await next();
        fill = 0;
      }
    }
  } else {
    for (;;) {
      const { done, value } = await source.chunks.read();
      if (done) break;
      for (let at = 0; at < value.byteLength;) {
        const n = Math.min(MiB - fill, value.byteLength - at);
        cur.buf.set(value.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === MiB) {
          yield emit(cur.buf);
          cur = await next();
          fill = 0;
        }
      }
    }
  }
  if (fill > 0) yield emit(cur.buf.subarray(0, fill));
}

/** A BYOB reader when `input` is a byte stream, else its default reader. */
function sourceOf(input: ReadableStream<Uint8Array>, wantBytes: boolean): Source {
  if (wantBytes) {
    try {
      return { byob: input.getReader({ mode: "byob" }) };
    } catch {
      // not a byte stream: read its chunks
    }
  }
  return { chunks: input.getReader() };
}

async function* decompressed(
  input: ReadableStream<Uint8Array>,
  part: FilePart,
  p: Plan,
): AsyncGenerator<Piece> {
  const source = sourceOf(input, p.inflater !== undefined);
  try {
    if ("chunks" in source && part.compression === "none") {
      for (;;) {
        const { done, value } = await source.chunks.read();
        if (done) return;
        p.compressed.update(value);
        yield { data: value };
      }
    }
    if (p.inflater) yield* inflateRing(source, p.inflater, p);
    else yield* inflateStream(source, p.compressed);
  } finally {
    const reader = "byob" in source ? source.byob : source.chunks;
    await reader.cancel().catch(() => {});
  }
}

/** The fast path: the native inflater writing straight into the ring's buffers. */
async function* inflateRing(
  source: Source,
  inflater: Inflater,
  p: Plan,
): AsyncGenerator<Piece> {
  let out = await p.output.take();
  let fill = 0;
  const run = async function* (input: Uint8Array, finish: boolean): AsyncGenerator<Piece> {
    let at = 0;
    for (;;) {
      const r = inflater.write(input, at, input.length - at, out.buf, fill, MiB - fill, finish);
      at += r.consumed;
      fill += r.produced;
      if (fill === MiB) {
        yield { data: out.buf, ring: out.index };
        out = await p.output.take();
        fill = 0;
        continue;
      }
      // Output room left over: the inflater has taken all it can of this input.
      if (at >= input.length || r.consumed === 0) return;
    }
  };
  for await (const piece of batched(source, p.compressed, p.input)) yield* run(piece, false);
  yield* run(new Uint8Array(0), true);
  if (fill > 0) yield { data: out.buf.subarray(0, fill), ring: out.index };
}

/** node:zlib's stream API, when the native handle is not reachable. */
async function* inflateStream(
  source: Source,
  compressed: Hasher,
): AsyncGenerator<Piece> {
  const gunzip = zlib.createGunzip({ chunkSize: MiB });
  let stopped = false;
  const feed = (async () => {
    try {
      for await (const piece of batched(source, compressed)) {
        if (stopped) break;
        if (!gunzip.write(piece)) await once(gunzip, "drain");
      }
      gunzip.end();
    } catch (err) {
      gunzip.destroy(err as Error);
    }
  })();
  try {
    for await (const out of gunzip) yield { data: out as Uint8Array };
    await feed;
  } finally {
    stopped = true;
    gunzip.destroy();
  }
}

/**
 * Streams one part into `file`, verifying the layer's digest and size and the part's
 * uncompressed size and (where it has one) digest. Returns how much was written and skipped.
 */
export async function unpackPart(
  input: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
  part: FilePart,
  opts: UnpackOptions,
): Promise<SparseWriterStats> {
  const p = plan(part, opts);
  const writer = new SparseWriter(file, part.offset, opts.dense ?? false);
  const { compressed, uncompressed } = p;
  let plainBytes = 0;
  try {
    try {
      for await (const { data: chunk, ring: index } of decompressed(input, part, p)) {
        plainBytes += chunk.byteLength;
        if (plainBytes > part.size) throw new Error(`more than the ${part.size} bytes announced`);
        uncompressed?.update(chunk);
        writer.write(chunk);
        // A ring buffer: inflating goes on while the worker hashes it, then it is reused.
        const hashed = uncompressed?.hashed();
        if (hashed && index === undefined) await hashed;
        else if (hashed && index !== undefined) p.output.hold(index, hashed);
        opts.onWritten?.(chunk.length);
      }
      await writer.flush();
    } catch (err) {
      await writer.flush().catch(() => {}); // no write may outlive the unpack
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string" && code.startsWith("Z_")) {
        throw new Error(`${opts.what}: corrupt compressed data: ${(err as Error).message}`, {
          cause: err,
        });
      }
      throw withContext(err, opts.what);
    }
    const layer = { digest: part.layer.digest, size: part.layer.size };
    verifyDigest(compressed.bytes, await compressed.digest(), layer, `${opts.what}: compressed`);
    if (part.compression === "none") return writer.stats;
    if (uncompressed && part.digest) {
      verifyDigest(
        uncompressed.bytes,
        await uncompressed.digest(),
        { digest: part.digest, size: part.size },
        `${opts.what}: uncompressed`,
      );
    } else if (plainBytes !== part.size) {
      throw new DigestMismatchError(
        `${opts.what}: uncompressed`,
        `${part.size} bytes`,
        `${plainBytes} bytes`,
      );
    }
    return writer.stats;
  } finally {
    p.close();
  }
}
