// Parallel gzip (the pigz scheme): the input is cut into blocks deflated on worker threads,
// each primed with the previous block's last 32 KiB, and the results are written in order
// as ONE gzip member with the CRC-32 and length of the whole input. Any gzip reader (Go's
// compress/gzip and pgzip included) reads it. Hashes of input and output are taken on the
// way, so a file is read once. Hand-written: no npm gzip library runs on worker threads
// under Deno, and node:zlib's async calls do not run in parallel here (measured).

import zlib from "node:zlib";
import { DigestCounter } from "../format/digest.ts";
import type { DeflateDone, DeflateJob } from "./gzip_worker.ts";

export interface GzipSummary {
  /** Absent when asked not to hash the input (`hashInput: false`). */
  uncompressedDigest?: string;
  uncompressedSize: number;
  compressedDigest: string;
  compressedSize: number;
}

export interface GzipOptions {
  level?: number;
  /** Bytes per block handed to a worker. */
  blockSize?: number;
  signal?: AbortSignal;
  /** Called with input bytes consumed. */
  onInput?: (n: number) => void;
  /** Take the sha256 of the input too (default true; chunks need none, see push.ts). */
  hashInput?: boolean;
}

const WINDOW = 32 * 1024;
const DEFAULT_BLOCK = 1 << 20;
/** gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown (as Go writes). */
const HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);

/** A fixed set of deflate workers; jobs go to whichever is idle. */
export class DeflatePool {
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  #waiting: ((w: Worker) => void)[] = [];
  #pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  #nextId = 0;

  constructor(size = Math.max(1, navigator.hardwareConcurrency || 2)) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./gzip_worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (e: MessageEvent<DeflateDone>) => {
        const p = this.#pending.get(e.data.id);
        this.#pending.delete(e.data.id);
        this.#release(w);
        if (!p) return;
        if (e.data.error !== undefined || !e.data.out) {
          p.reject(new Error(`deflate: ${e.data.error}`));
        } else p.resolve(e.data.out);
      };
      w.onerror = (e) => {
        e.preventDefault();
        for (const p of this.#pending.values()) p.reject(new Error(`deflate worker: ${e.message}`));
        this.#pending.clear();
      };
      this.#workers.push(w);
      this.#idle.push(w);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  #release(w: Worker) {
    const next = this.#waiting.shift();
    if (next) next(w);
    else this.#idle.push(w);
  }

  async deflate(
    data: Uint8Array,
    dictionary: Uint8Array | null,
    last: boolean,
    level: number,
  ): Promise<Uint8Array> {
    const worker = this.#idle.pop() ?? await new Promise<Worker>((r) => this.#waiting.push(r));
    const id = this.#nextId++;
    return await new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const job: DeflateJob = { id, data, dictionary, last, level };
      worker.postMessage(job, [data.buffer as ArrayBuffer]);
    });
  }

  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#idle = [];
  }
}

async function readFully(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}

/**
 * Compresses `length` bytes of `inputPath` from `offset` into one gzip stream, handing each
 * compressed piece to `sink` in order. Returns sizes and sha256 digests of both sides.
 */
export async function gzipRange(
  pool: DeflatePool,
  inputPath: string,
  offset: number,
  length: number,
  sink: (piece: Uint8Array) => Promise<void>,
  opts: GzipOptions = {},
): Promise<GzipSummary> {
  const level = opts.level ?? 6;
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK;
  const input = await Deno.open(inputPath, { read: true });
  const plain = opts.hashInput ?? true ? new DigestCounter() : undefined;
  const packed = new DigestCounter();
  let crc = 0;
  const emit = async (piece: Uint8Array) => {
    packed.update(piece);
    await sink(piece);
  };
  const inFlight: Promise<Uint8Array>[] = [];
  const maxInFlight = pool.size * 2;
  try {
    await input.seek(offset, Deno.SeekMode.Start);
    await emit(HEADER.slice());
    let dictionary: Uint8Array | null = null;
    let remaining = length;
    do {
      opts.signal?.throwIfAborted();
      const want = Math.min(blockSize, remaining);
      const block = new Uint8Array(want);
      const got = await readFully(input, block);
      if (got !== want) throw new Error(`${inputPath}: file ended early (changed while reading?)`);
      remaining -= want;
      plain?.update(block);
      crc = zlib.crc32(block, crc);
      opts.onInput?.(want);
      const nextDict: Uint8Array = want >= WINDOW
        ? block.slice(want - WINDOW)
        : concatTail(dictionary, block);
      inFlight.push(pool.deflate(block, dictionary, remaining === 0, level));
      dictionary = nextDict;
      while (inFlight.length >= maxInFlight) await emit(await inFlight.shift()!);
    } while (remaining > 0);
    while (inFlight.length > 0) await emit(await inFlight.shift()!);
    const trailer = new Uint8Array(8);
    const view = new DataView(trailer.buffer);
    view.setUint32(0, crc >>> 0, true);
    view.setUint32(4, length % 2 ** 32, true);
    await emit(trailer);
  } finally {
    await Promise.allSettled(inFlight);
    input.close();
  }
  return {
    uncompressedDigest: plain?.digest(),
    uncompressedSize: length,
    compressedDigest: packed.digest(),
    compressedSize: packed.bytes,
  };
}

/** The last 32 KiB of (previous dictionary + a short block), for tiny blocks. */
function concatTail(prev: Uint8Array | null, block: Uint8Array): Uint8Array {
  const joined = new Uint8Array((prev?.length ?? 0) + block.length);
  if (prev) joined.set(prev);
  joined.set(block, prev?.length ?? 0);
  return joined.slice(Math.max(0, joined.length - WINDOW));
}

/** gzipRange into a new file at `outputPath`. */
export async function gzipRangeToFile(
  pool: DeflatePool,
  inputPath: string,
  offset: number,
  length: number,
  outputPath: string,
  opts: GzipOptions = {},
): Promise<GzipSummary> {
  const out = await Deno.open(outputPath, { write: true, createNew: true, mode: 0o600 });
  try {
    const summary = await gzipRange(pool, inputPath, offset, length, async (piece) => {
      let done = 0;
      while (done < piece.length) done += await out.write(piece.subarray(done));
    }, opts);
    await out.syncData();
    return summary;
  } finally {
    out.close();
  }
}
