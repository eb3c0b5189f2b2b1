// Worker thread that hashes for a pipelined unpack (hash_client.ts): SHA-256 of the
// compressed and of the uncompressed stream, reading the bytes in place from the unpack's
// shared buffer (no copy), in the order the regions are announced. It runs on its own
// event loop, so it keeps hashing while the caller's thread is busy inflating.

import { createHash } from "node:crypto";

export type HashRequest =
  | { type: "init"; sab: SharedArrayBuffer }
  | { type: "update"; stream: number; offset: number; length: number; seq: number }
  | { type: "digest"; stream: number }
  /** Start both streams afresh (the next unpack). */
  | { type: "reset" };

export type HashReply =
  | { type: "hashed"; seq: number }
  | { type: "digest"; stream: number; hex: string };

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<HashRequest>) => void) | null;
  postMessage(msg: HashReply): void;
};

let shared: SharedArrayBuffer | undefined;
let hashes = [createHash("sha256"), createHash("sha256")];

scope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === "init") shared = msg.sab;
  else if (msg.type === "reset") hashes = [createHash("sha256"), createHash("sha256")];
  else if (msg.type === "update") {
    hashes[msg.stream].update(new Uint8Array(shared!, msg.offset, msg.length));
    scope.postMessage({ type: "hashed", seq: msg.seq });
  } else {scope.postMessage({
      type: "digest",
      stream: msg.stream,
      hex: hashes[msg.stream].digest("hex"),
    });}
};
