// Worker thread of a chunk lane (chunk_lane.ts): unpacks the lane's chunks one after
// another into the partial file, on its own core. The caller's thread keeps the network
// (and its retries) and hands this worker the compressed bytes in 1 MiB buffers that move
// between the threads without a copy (transferred, then handed back once read); here they
// are hashed, gunzipped (hashed again only where a chunk carries an uncompressed digest)
// and written sparsely by the same unpackPart as everywhere else, and the part file is
// synced before "done" is posted. So each lane's inflate and hashing run in parallel,
// where lanes on one thread shared a single core.

import type { FilePart } from "../format/layout.ts";
import type { SparseWriterStats } from "../store/sparse.ts";
import { newInlineRings, unpackPart } from "../store/unpack.ts";

export type LaneRequest =
  | { type: "begin"; id: number; path: string; part: FilePart; dense: boolean; what: string }
  | { type: "data"; id: number; buf: ArrayBuffer; length: number }
  | { type: "end"; id: number }
  /** The caller gave up on the chunk (its stream failed or it was aborted). */
  | { type: "cancel"; id: number; reason: string };

export type LaneReply =
  /** A buffer read and free again (transferred back). */
  | { type: "free"; buf: ArrayBuffer }
  | { type: "done"; id: number; stats: SparseWriterStats }
  | { type: "failed"; id: number; message: string };

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<LaneRequest>) => void) | null;
  postMessage(msg: LaneReply, transfer?: Transferable[]): void;
};

/** The compressed bytes of the chunk being unpacked, as a stream read by unpackPart. */
class Inbox {
  #queue: Uint8Array[] = [];
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  /** The buffer the reader has last been given: returned once it asks for the next. */
  #lent: Uint8Array | undefined;

  readonly stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      this.#giveBack();
      while (this.#queue.length === 0 && !this.#ended && !this.#failure) {
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
      if (this.#failure) return controller.error(this.#failure);
      const next = this.#queue.shift();
      if (!next) return controller.close();
      this.#lent = next;
      controller.enqueue(next);
    },
    cancel: () => this.close(),
  }, { highWaterMark: 0 });

  #giveBack(): void {
    if (!this.#lent) return;
    const buf = this.#lent.buffer as ArrayBuffer;
    this.#lent = undefined;
    scope.postMessage({ type: "free", buf }, [buf]);
  }

  #notify(): void {
    this.#wake?.();
    this.#wake = undefined;
  }

  push(buf: ArrayBuffer, length: number): void {
    this.#queue.push(new Uint8Array(buf, 0, length));
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  fail(reason: string): void {
    this.#failure ??= new Error(reason);
    this.#notify();
  }

  /** Hands every buffer still here back to the caller. */
  close(): void {
    this.#giveBack();
    for (const b of this.#queue.splice(0)) {
      scope.postMessage({ type: "free", buf: b.buffer as ArrayBuffer }, [b.buffer as ArrayBuffer]);
    }
  }
}

const inboxes = new Map<number, Inbox>();
/** The lane's buffers, reused by each chunk in turn. */
const rings = newInlineRings();

async function unpack(msg: Extract<LaneRequest, { type: "begin" }>, inbox: Inbox): Promise<void> {
  let reply: LaneReply;
  try {
    const file = Deno.openSync(msg.path, { read: true, write: true });
    try {
      const stats = await unpackPart(inbox.stream, file, msg.part, {
        what: msg.what,
        dense: msg.dense,
        hash: "inline",
        rings,
      });
      await file.syncData();
      reply = { type: "done", id: msg.id, stats };
    } finally {
      file.close();
    }
  } catch (err) {
    reply = {
      type: "failed",
      id: msg.id,
      message: err instanceof Error ? err.message : String(err),
    };
  }
  // Every buffer goes back before the reply: when the caller hears of the end, its pool is whole.
  inbox.close();
  inboxes.delete(msg.id);
  scope.postMessage(reply);
}

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === "begin") {
    const inbox = new Inbox();
    inboxes.set(msg.id, inbox);
    unpack(msg, inbox);
    return;
  }
  const inbox = inboxes.get(msg.id);
  if (msg.type === "data") {
    if (inbox) inbox.push(msg.buf, msg.length);
    else scope.postMessage({ type: "free", buf: msg.buf }, [msg.buf]); // chunk already over
  } else if (msg.type === "end") inbox?.end();
  else inbox?.fail(msg.reason);
};
