// The caller's side of a hash worker (hash_worker.ts): one worker per unpack of a large
// single-layer file, numbered streams (the unpack's uncompressed bytes), each a Hasher
// whose chunks are views of the worker's SharedArrayBuffer. `hashed()` settles when the
// worker has read every region announced so far, which is when the caller may reuse
// those buffers.

import { SHA256_PREFIX } from "../format/digest.ts";
import type { Hasher } from "./hashers.ts";
import type { HashReply, HashRequest } from "./hash_worker.ts";

export class HashWorker {
  #worker: Worker;
  #seq = 0;
  #waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  #digests = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  #failure: Error | undefined;

  constructor(readonly shared: SharedArrayBuffer) {
    this.#worker = new Worker(new URL("./hash_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = (e: MessageEvent<HashReply>) => {
      const msg = e.data;
      if (msg.type === "hashed") {
        this.#waiting.get(msg.seq)?.resolve();
        this.#waiting.delete(msg.seq);
      } else {
        this.#digests.get(msg.stream)?.resolve(msg.hex);
        this.#digests.delete(msg.stream);
      }
    };
    this.#worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`hash worker failed: ${e.message}`));
    };
    this.#send({ type: "init", sab: shared });
  }

  #send(msg: HashRequest): void {
    this.#worker.postMessage(msg);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const w of [...this.#waiting.values(), ...this.#digests.values()]) w.reject(err);
    this.#waiting.clear();
    this.#digests.clear();
  }

  /** Announces `chunk` of `stream` to the worker; settles once it has been read. */
  #announce(stream: number, chunk: Uint8Array): Promise<void> {
    if (chunk.buffer !== this.shared) {
      throw new Error("hash worker: chunk not in the shared buffer");
    }
    if (this.#failure) throw this.#failure;
    const seq = ++this.#seq;
    const done = new Promise<void>((resolve, reject) =>
      this.#waiting.set(seq, { resolve, reject })
    );
    done.catch(() => {});
    this.#send({ type: "update", stream, offset: chunk.byteOffset, length: chunk.byteLength, seq });
    return done;
  }

  #digest(stream: number): Promise<string> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<string>((resolve, reject) => {
      this.#digests.set(stream, { resolve, reject });
      this.#send({ type: "digest", stream });
    });
  }

  /** A Hasher for stream number `stream`. */
  stream(stream: number): Hasher {
    let last: Promise<unknown> = Promise.resolve();
    const hasher: Hasher = {
      bytes: 0,
      update: (chunk) => {
        last = this.#announce(stream, chunk);
        hasher.bytes += chunk.byteLength;
      },
      hashed: () => last,
      digest: async () => {
        await last;
        return SHA256_PREFIX + await this.#digest(stream);
      },
    };
    return hasher;
  }

  close(): void {
    this.#fail(new Error("hash worker closed"));
    this.#worker.terminate();
  }
}
