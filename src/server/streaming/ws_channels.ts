// The Kubernetes channel protocols over one WebSocket: every message starts with its channel
// number (binary protocols: one byte; base64 protocols: one ASCII digit, then base64 text).
// Gives each channel a readable (with the socket paused while too much waits unread) and a
// writable (each write waits while the socket's send buffer is full), plus v5's CLOSE signal
// (channel 255 carrying the number of the channel the peer has finished writing).

import { IdleTimer } from "./idle.ts";
import type { WsConnection } from "./ws/connection.ts";

const CLOSE_CHANNEL = 255;
const MAX_UNREAD = 1 << 20;

export interface ChannelConnection {
  /** What the peer sends on `channel`; ends on the v5 CLOSE signal or when the socket closes. */
  readable(channel: number): ReadableStream<Uint8Array>;
  /** What we send on `channel`; closing it sends nothing (the channel simply stops). */
  writable(channel: number): WritableStream<Uint8Array>;
  send(channel: number, data: Uint8Array): Promise<void>;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  close(code?: number, reason?: string): void;
}

/**
 * The channels of `ws`. With `idleTimeoutMs` > 0 the socket is closed after that long without
 * a message either way, as the kubelet does.
 */
export function channelConnection(
  ws: WsConnection,
  base64: boolean,
  idleTimeoutMs = 0,
): ChannelConnection {
  const idle = new IdleTimer(idleTimeoutMs, () => ws.terminate());
  const queues = new Map<number, { chunks: Uint8Array[]; ended: boolean; wake?: () => void }>();
  let unread = 0;
  let paused = false;
  let open = true;

  const queue = (channel: number) => {
    let q = queues.get(channel);
    if (!q) queues.set(channel, q = { chunks: [], ended: false });
    return q;
  };
  const wake = (q: { wake?: () => void }) => {
    const w = q.wake;
    q.wake = undefined;
    w?.();
  };
  const updatePause = () => {
    if (!paused && unread > MAX_UNREAD && open) {
      paused = true;
      ws.pause();
    } else if (paused && unread <= MAX_UNREAD / 2) {
      paused = false;
      ws.resume();
    }
  };

  ws.onMessage = (bytes, isBinary) => {
    idle.touch();
    if (bytes.byteLength === 0) return;
    let channel: number;
    let data: Uint8Array;
    if (base64 && !isBinary) {
      const text = new TextDecoder().decode(bytes);
      channel = text.charCodeAt(0) - 48;
      data = Uint8Array.from(atob(text.slice(1)), (c) => c.charCodeAt(0));
    } else {
      channel = bytes[0];
      data = bytes.subarray(1);
    }
    if (channel === CLOSE_CHANNEL) {
      if (data.byteLength > 0) {
        const q = queue(data[0]);
        q.ended = true;
        wake(q);
      }
      return;
    }
    if (data.byteLength === 0) return;
    const q = queue(channel);
    if (q.ended) return;
    q.chunks.push(data);
    unread += data.byteLength;
    updatePause();
    wake(q);
  };
  const closed = ws.closed.then(() => {
    open = false;
    idle.stop();
    for (const q of queues.values()) {
      q.ended = true;
      wake(q);
    }
  });

  const send = (channel: number, data: Uint8Array): Promise<void> => {
    if (!open || !ws.open) return Promise.reject(new Error("WebSocket closed"));
    idle.touch();
    if (!base64) return ws.send(true, new Uint8Array([channel]), data);
    let binary = "";
    for (let i = 0; i < data.byteLength; i += 0x8000) {
      binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
    }
    const text = String.fromCharCode(48 + channel) + btoa(binary);
    return ws.send(false, new TextEncoder().encode(text));
  };

  return {
    readable(channel) {
      const q = queue(channel);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          for (;;) {
            const chunk = q.chunks.shift();
            if (chunk) {
              unread -= chunk.byteLength;
              updatePause();
              return controller.enqueue(chunk);
            }
            if (q.ended) return controller.close();
            await new Promise<void>((resolve) => (q.wake = resolve));
          }
        },
        cancel() {
          for (const c of q.chunks) unread -= c.byteLength;
          q.chunks = [];
          q.ended = true;
          updatePause();
        },
      }, { highWaterMark: 0 });
    },
    writable(channel) {
      return new WritableStream<Uint8Array>({
        write: (chunk) => chunk.byteLength ? send(channel, chunk) : undefined,
      });
    },
    send,
    closed,
    close(code = 1000, reason = "") {
      if (open) ws.close(code, reason);
    },
  };
}
