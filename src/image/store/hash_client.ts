// The caller's side of a hash worker (hash_worker.ts): one worker per unpack of a large
// single-layer file, hashing its uncompressed bytes. `hasher` is a Hasher whose chunks are
// views of the worker's SharedArrayBuffer; `hashed()` settles when the worker has read
// every region announced so far, which is when the caller may reuse those buffers.

import { SHA256_PREFIX } from "../format/digest.ts";
import type { Hasher } from "./hashers.ts";
import type { HashReply, HashRequest } from "./hash_worker.ts";

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (e: Error) => void;
}

export class HashWorker {
  #worker: Worker;
  #seq = 0;
  #waiting = new Map<number, Pending<void>>();
  #digest: Pending<string> | undefined;
  #failure: Error | undefined;
  #last: Promise<unknown> = Promise.resolve();

  /** The stream's Hasher: call `digest()` once, after the last update. */
  readonly hasher: Hasher = {
    bytes: 0,
    update: (chunk) => {
      this.#last = this.#announce(chunk);
      this.hasher.bytes += chunk.byteLength;
    },
    hashed: () => this.#last,
    digest: async () => {
      await this.#last;
      return SHA256_PREFIX + await this.#askDigest();
    },
  };

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
        this.#digest?.resolve(msg.hex);
        this.#digest = undefined;
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
    for (const w of this.#waiting.values()) w.reject(err);
    this.#digest?.reject(err);
    this.#waiting.clear();
    this.#digest = undefined;
  }

  /** Announces `chunk` to the worker; settles once it has been read. */
  #announce(chunk: Uint8Array): Promise<void> {
    if (chunk.buffer !== this.shared) {
      throw new Error("hash worker: chunk not in the shared buffer");
    }
    if (this.#failure) throw this.#failure;
    const seq = ++this.#seq;
    const done = new Promise<void>((resolve, reject) =>
      this.#waiting.set(seq, { resolve, reject })
    );
    done.catch(() => {});
    this.#send({ type: "update", offset: chunk.byteOffset, length: chunk.byteLength, seq });
    return done;
  }

  #askDigest(): Promise<string> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<string>((resolve, reject) => {
      this.#digest = { resolve, reject };
      this.#send({ type: "digest" });
    });
  }

  close(): void {
    this.#fail(new Error("hash worker closed"));
    this.#worker.terminate();
  }
}
