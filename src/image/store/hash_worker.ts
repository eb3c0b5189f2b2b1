// Worker thread that hashes for pipelined unpacks (hash_client.ts): SHA-256 of numbered
// streams (an unpack's uncompressed bytes), reading the bytes in place
// from the shared buffer (no copy), in the order the regions are announced. It runs on its
// own event loop, so it keeps hashing while the caller's thread is busy inflating.

import { createHash, type Hash } from "node:crypto";

export type HashRequest =
  | { type: "init"; sab: SharedArrayBuffer }
  | { type: "update"; stream: number; offset: number; length: number; seq: number }
  | { type: "digest"; stream: number };

export type HashReply =
  | { type: "hashed"; seq: number }
  | { type: "digest"; stream: number; hex: string };

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<HashRequest>) => void) | null;
  postMessage(msg: HashReply): void;
};

let shared: SharedArrayBuffer | undefined;
const hashes = new Map<number, Hash>();
const hashOf = (stream: number) => {
  let h = hashes.get(stream);
  if (!h) hashes.set(stream, h = createHash("sha256"));
  return h;
};

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === "init") shared = msg.sab;
  else if (msg.type === "update") {
    hashOf(msg.stream).update(new Uint8Array(shared!, msg.offset, msg.length));
    scope.postMessage({ type: "hashed", seq: msg.seq });
  } else {scope.postMessage({
      type: "digest",
      stream: msg.stream,
      hex: hashOf(msg.stream).digest("hex"),
    });}
};
