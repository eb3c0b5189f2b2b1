// Worker thread that hashes for a pipelined unpack (hash_client.ts): the SHA-256 of one
// stream (an unpack's uncompressed bytes), reading the bytes in place from the shared
// buffer (no copy), in the order the regions are announced. It runs on its own event
// loop, so it keeps hashing while the caller's thread is busy inflating.

import { createHash } from "node:crypto";

export type HashRequest =
  | { type: "init"; sab: SharedArrayBuffer }
  | { type: "update"; offset: number; length: number; seq: number }
  | { type: "digest" };

export type HashReply =
  | { type: "hashed"; seq: number }
  | { type: "digest"; hex: string };

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<HashRequest>) => void) | null;
  postMessage(msg: HashReply): void;
};

let shared: SharedArrayBuffer | undefined;
const hash = createHash("sha256");

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === "init") shared = msg.sab;
  else if (msg.type === "update") {
    hash.update(new Uint8Array(shared!, msg.offset, msg.length));
    scope.postMessage({ type: "hashed", seq: msg.seq });
  } else scope.postMessage({ type: "digest", hex: hash.digest("hex") });
};
