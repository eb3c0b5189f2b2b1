// Worker of the parallel gzip encoder (gzip_parallel.ts): deflates one block as raw
// deflate, primed with the previous block's last 32 KiB as dictionary, ending in a sync
// flush (or the final block marker for the last block), so blocks concatenate into one
// valid deflate stream.

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

self_.onmessage = (e: MessageEvent<DeflateJob>) => {
  const job = e.data;
  try {
    const out = zlib.deflateRawSync(job.data, {
      level: job.level,
      finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      ...(job.dictionary ? { dictionary: job.dictionary } : {}),
    });
    const copy = new Uint8Array(out.byteLength);
    copy.set(out);
    self_.postMessage({ id: job.id, out: copy }, [copy.buffer]);
  } catch (err) {
    self_.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
};
