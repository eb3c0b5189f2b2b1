// Worker of the parallel gzip encoder (gzip_parallel.ts): deflates one block as raw
// deflate, primed with the previous block's last 32 KiB as dictionary, ending in a sync
// flush (or the final block marker for the last block), so blocks concatenate into one
// valid deflate stream. A block that does not compress (random or already compressed
// data: its sampled byte entropy is near 8 bits) is emitted as stored deflate blocks
// instead of being searched for matches that are not there; zlib's own output for such
// data is stored blocks too, at many times the cost.

import zlib from "node:zlib";

export interface DeflateJob {
  id: number;
  data: Uint8Array;
  dictionary: Uint8Array | null;
  last: boolean;
  level: number;
}

export interface DeflateDone {
  id: number;
  out?: Uint8Array;
  error?: string;
}

const self_ = globalThis as unknown as {
  onmessage: ((e: MessageEvent<DeflateJob>) => void) | null;
  postMessage(msg: DeflateDone, transfer?: Transferable[]): void;
};

/** Bytes sampled for the entropy estimate, in SAMPLES pieces spread over the block. */
const SAMPLE_BYTES = 4096;
const SAMPLES = 4;
/** Above this estimate (bits per byte) a block is taken as incompressible. */
const STORED_ENTROPY = 7.9;
const MAX_STORED = 65535;

/** Shannon entropy (bits per byte) of a few pieces of `data`, or 0 for small blocks. */
export function sampledEntropy(data: Uint8Array): number {
  if (data.length < SAMPLE_BYTES * SAMPLES * 4) return 0;
  const counts = new Uint32Array(256);
  const step = Math.floor(data.length / SAMPLES);
  for (let s = 0; s < SAMPLES; s++) {
    const from = s * step;
    for (let i = from; i < from + SAMPLE_BYTES; i++) counts[data[i]]++;
  }
  const n = SAMPLE_BYTES * SAMPLES;
  let bits = 0;
  for (const c of counts) if (c > 0) bits -= (c / n) * Math.log2(c / n);
  return bits;
}

/**
 * `data` as stored deflate blocks (the stream is byte-aligned after the previous block's
 * sync flush); the last one carries BFINAL when `last`.
 */
export function storedBlocks(data: Uint8Array, last: boolean): Uint8Array {
  const pieces = Math.max(1, Math.ceil(data.length / MAX_STORED));
  const out = new Uint8Array(data.length + pieces * 5);
  let at = 0;
  for (let p = 0; p < pieces; p++) {
    const from = p * MAX_STORED;
    const len = Math.min(MAX_STORED, data.length - from);
    out[at] = last && p === pieces - 1 ? 1 : 0;
    out[at + 1] = len & 0xff;
    out[at + 2] = len >> 8;
    out[at + 3] = ~len & 0xff;
    out[at + 4] = (~len >> 8) & 0xff;
    out.set(data.subarray(from, from + len), at + 5);
    at += 5 + len;
  }
  return out;
}

self_.onmessage = (e: MessageEvent<DeflateJob>) => {
  const job = e.data;
  try {
    let copy: Uint8Array;
    if (job.level > 0 && sampledEntropy(job.data) > STORED_ENTROPY) {
      copy = storedBlocks(job.data, job.last);
    } else {
      const out = zlib.deflateRawSync(job.data, {
        level: job.level,
        finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
        ...(job.dictionary ? { dictionary: job.dictionary } : {}),
      });
      copy = new Uint8Array(out.byteLength);
      copy.set(out);
    }
    self_.postMessage({ id: job.id, out: copy }, [copy.buffer as ArrayBuffer]);
  } catch (err) {
    self_.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
};
