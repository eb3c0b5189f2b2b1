// The ordered output of one SPDY session. Frames are written in the order they are pushed;
// a frame may be a promise-producing function (header blocks are compressed asynchronously),
// which holds back everything behind it. Writes go straight to the socket while it keeps up;
// when it reports a full buffer, frames queue until 'drain'. `room()` is the backpressure
// point for data writers: it waits while queue plus socket buffer exceed the high-water mark.

import type { Duplex } from "node:stream";

export type OutItem = Uint8Array | (() => Promise<Uint8Array>);

export interface Output {
  push(item: OutItem): void;
  /** Resolves when a data writer may push more. */
  room(): Promise<void>;
  /** Resolves when everything pushed so far has been handed to the socket. */
  flushed(): Promise<void>;
  /** The socket is gone: drop what is queued and release every waiter. */
  fail(err: Error): void;
}

export function createOutput(socket: Duplex, highWater: number, onWrite: () => void): Output {
  const queue: OutItem[] = [];
  let queuedBytes = 0;
  let pumping = false;
  let blocked = false;
  let failed: Error | undefined;
  let roomWaiters: (() => void)[] = [];
  let flushWaiters: (() => void)[] = [];

  const hasRoom = () =>
    failed !== undefined || queuedBytes + (socket.writableLength ?? 0) < highWater;
  const idle = () => failed !== undefined || (queue.length === 0 && !pumping && !blocked);

  const wake = () => {
    if (hasRoom() && roomWaiters.length) { for (const w of roomWaiters.splice(0)) w(); }
    if (idle() && flushWaiters.length) { for (const w of flushWaiters.splice(0)) w(); }
  };

  const write = (bytes: Uint8Array) => {
    onWrite();
    if (!socket.write(bytes)) {
      blocked = true;
      socket.once("drain", () => {
        blocked = false;
        void pump();
      });
    }
  };

  const pump = async () => {
    if (pumping || blocked || failed) return wake();
    pumping = true;
    try {
      while (queue.length && !blocked && !failed) {
        const item = queue.shift()!;
        let bytes: Uint8Array;
        if (typeof item === "function") {
          try {
            bytes = await item();
          } catch (err) {
            socket.destroy(err as Error);
            return;
          }
        } else {
          bytes = item;
          queuedBytes -= item.byteLength;
        }
        if (failed) return;
        write(bytes);
      }
    } finally {
      pumping = false;
      wake();
    }
  };

  return {
    push(item) {
      if (failed) return;
      if (!pumping && !blocked && queue.length === 0 && typeof item !== "function") {
        write(item);
        return;
      }
      queue.push(item);
      if (typeof item !== "function") queuedBytes += item.byteLength;
      void pump();
    },
    room() {
      if (hasRoom()) return Promise.resolve();
      return new Promise((resolve) => roomWaiters.push(resolve));
    },
    flushed() {
      if (idle()) return Promise.resolve();
      return new Promise((resolve) => flushWaiters.push(resolve));
    },
    fail(err) {
      failed ??= err;
      queue.length = 0;
      queuedBytes = 0;
      const waiters = [...roomWaiters, ...flushWaiters];
      roomWaiters = [];
      flushWaiters = [];
      for (const w of waiters) w();
    },
  };
}
