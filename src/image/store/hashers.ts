// The two ways an unpack hashes a stream, behind one small interface: inline (node:crypto
// on this thread; chunked pulls, which already run one chunk per thread, and small files)
// or on a hash worker reading the unpack's shared buffer in place (hash_client.ts), so a
// single gzip layer keeps two cores busy.

import { createHash } from "node:crypto";
import { SHA256_PREFIX } from "../format/digest.ts";

export interface Hasher {
  /** Bytes given so far. */
  bytes: number;
  /** Adds `chunk`, which must stay unchanged until `hashed()` settles. */
  update(chunk: Uint8Array): void;
  /** Settles once every chunk given so far has been hashed. */
  hashed(): Promise<unknown>;
  /** "sha256:<hex>"; call once, after the last update. */
  digest(): Promise<string>;
}

export class InlineHasher implements Hasher {
  bytes = 0;
  #hash = createHash("sha256");

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.bytes += chunk.byteLength;
  }

  hashed(): Promise<unknown> {
    return Promise.resolve();
  }

  digest(): Promise<string> {
    return Promise.resolve(SHA256_PREFIX + this.#hash.digest("hex"));
  }
}
