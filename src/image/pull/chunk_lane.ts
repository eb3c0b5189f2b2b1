// A chunk lane: one worker thread (chunk_worker.ts) that unpacks, hashes and writes the
// chunks given to it, while this thread only reads their blobs from the registry. A lane's
// compressed bytes travel in a few 1 MiB buffers that are transferred to the worker and
// handed back once read (no copy, and a full pool stops the reads: back-pressure reaches
// the registry connection). Lanes used to inflate on this thread beside one hash worker,
// so a chunked pull could never inflate on more than one core; on the 2-core development
// machine both designs keep it about 90 % busy (bench/README.md), and workers are what lets
// a host with more cores run a lane on each.

import type { SparseWriterStats } from "../store/sparse.ts";
import type { FilePart } from "../format/layout.ts";
import type { LaneReply, LaneRequest } from "./chunk_worker.ts";

const MiB = 1 << 20;
/** Buffers per lane in flight between the network and the worker. */
const POOL = 3;

export interface LaneChunk {
  /** The partial file the chunk is written into (opened by the worker). */
  path: string;
  part: FilePart;
  dense: boolean;
  /** Error message prefix. */
  what: string;
}

interface Pending {
  resolve: (stats: SparseWriterStats) => void;
  reject: (err: Error) => void;
}

export class ChunkLane {
  #worker: Worker;
  #free: ArrayBuffer[] = Array.from({ length: POOL }, () => new ArrayBuffer(MiB));
  #wantFree: (() => void) | undefined;
  #pending = new Map<number, Pending>();
  #next = 0;
  #failure: Error | undefined;

  constructor() {
    this.#worker = new Worker(new URL("./chunk_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = (e: MessageEvent<LaneReply>) => this.#receive(e.data);
    this.#worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`chunk worker failed: ${e.message}`));
    };
  }

  #receive(msg: LaneReply): void {
    if (msg.type === "free") {
      this.#free.push(msg.buf);
      this.#wantFree?.();
      this.#wantFree = undefined;
      return;
    }
    const p = this.#pending.get(msg.id);
    this.#pending.delete(msg.id);
    if (msg.type === "done") p?.resolve(msg.stats);
    else p?.reject(new Error(msg.message));
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#wantFree?.();
  }

  #send(msg: LaneRequest, transfer: Transferable[] = []): void {
    this.#worker.postMessage(msg, transfer);
  }

  /** A free buffer; waits while all are with the worker or `settled` comes first. */
  async #take(settled: { over: boolean }): Promise<ArrayBuffer | undefined> {
    while (this.#free.length === 0 && !settled.over && !this.#failure) {
      await new Promise<void>((resolve) => this.#wantFree = resolve);
    }
    if (this.#failure) throw this.#failure;
    return settled.over ? undefined : this.#free.pop();
  }

  /**
   * Unpacks `input` (the chunk's compressed blob, a byte stream or not) into its place in
   * the file; settles when the worker has verified and synced it, or with the first error
   * of either side. No write of the chunk happens after this settles.
   */
  async unpack(input: ReadableStream<Uint8Array>, chunk: LaneChunk): Promise<SparseWriterStats> {
    if (this.#failure) throw this.#failure;
    const id = ++this.#next;
    const settled = { over: false };
    const result = new Promise<SparseWriterStats>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    }).finally(() => {
      settled.over = true;
      this.#wantFree?.();
    });
    result.catch(() => {});
    this.#send({ type: "begin", id, ...chunk });
    const fill = fillerOf(input);
    let inHand: ArrayBuffer | undefined;
    result.catch(() => fill.cancel()); // the worker failed: stop reading the blob
    try {
      for (let done = false; !done;) {
        const buf = await this.#take(settled);
        if (!buf) break; // the worker finished (or failed) early
        inHand = buf;
        const got = await fill.into(new Uint8Array(buf));
        inHand = undefined;
        if (settled.over) { // the worker failed while this read waited
          this.#free.push(got.buffer);
          break;
        }
        done = got.length < MiB;
        this.#send({ type: "data", id, buf: got.buffer, length: got.length }, [got.buffer]);
      }
      this.#send({ type: "end", id });
    } catch (err) {
      // A failed read keeps the buffer it was filling: the pool gets a fresh one instead.
      if (inHand) this.#free.push(inHand.byteLength ? inHand : new ArrayBuffer(MiB));
      this.#send({ type: "cancel", id, reason: String(err) });
      await result.catch(() => {}); // the worker has stopped writing the chunk
      throw err;
    } finally {
      await fill.cancel();
    }
    return await result;
  }

  /** Buffers of the pool not with the worker or a read (all of them between chunks). */
  get idleBuffers(): number {
    return this.#free.length;
  }

  close(): void {
    this.#fail(new Error("chunk lane closed"));
    this.#worker.terminate();
  }
}

/** Fills whole buffers from a stream: read in place from a byte stream, else copied. */
interface Filler {
  /** Fills `view` (a whole buffer) as far as the stream goes; shorter only at its end. */
  into(view: Uint8Array): Promise<{ buffer: ArrayBuffer; length: number }>;
  cancel(): Promise<void>;
}

function fillerOf(input: ReadableStream<Uint8Array>): Filler {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = input.getReader({ mode: "byob" });
  } catch {
    // not a byte stream: copy its chunks
  }
  if (byob) {
    const reader = byob;
    return {
      async into(view) {
        let fill = 0;
        let buffer = view.buffer as ArrayBuffer;
        while (fill < buffer.byteLength) {
          // The read takes the buffer over and hands it back (the same memory).
          const { done, value } = await reader.read(new Uint8Array(buffer, fill));
          // A read cut short by cancel() hands no buffer back: the pool gets a fresh one.
          buffer = value ? value.buffer as ArrayBuffer : new ArrayBuffer(view.byteLength);
          if (done || !value) break;
          fill += value.byteLength;
        }
        return { buffer, length: fill };
      },
      cancel: () => reader.cancel().catch(() => {}),
    };
  }
  const reader = input.getReader();
  let carry: Uint8Array | undefined; // read bytes that did not fit the last buffer
  return {
    async into(view) {
      let fill = 0;
      while (fill < view.length) {
        if (!carry) {
          const r = await reader.read();
          if (r.done) break;
          carry = r.value;
        }
        const n = Math.min(view.length - fill, carry.byteLength);
        view.set(carry.subarray(0, n), fill);
        fill += n;
        carry = n === carry.byteLength ? undefined : carry.subarray(n);
      }
      return { buffer: view.buffer as ArrayBuffer, length: fill };
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}
