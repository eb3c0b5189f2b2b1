// Port-forward over WebSocket, two ways. The channel protocols carry one connection per
// requested port: channel 2i is port i's data, 2i+1 its errors, and each channel starts with
// the port number (uint16, little endian) as the kubelet sends it. "SPDY/3.1+portforward.k8s.io"
// instead tunnels a whole SPDY port-forward session through binary messages (what kubectl
// sends since port-forward moved to WebSockets), served by the same code as plain SPDY.

import { Duplex } from "node:stream";
import type { ServerContext } from "../context.ts";
import { sessionLifetime } from "./lifetime.ts";
import { ownedWritable } from "./io.ts";
import { serveSpdyPortForward } from "./spdy_portforward.ts";
import { channelConnection } from "./ws_channels.ts";
import type { WsConnection } from "./ws/connection.ts";

export async function serveWsPortForward(
  ctx: ServerContext,
  ws: WsConnection,
  protocol: string,
  ports: number[],
  target: { namespace: string; pod: string },
): Promise<void> {
  if (protocol === "SPDY/3.1+portforward.k8s.io") {
    return await serveSpdyPortForward(ctx, tunnel(ws), new Uint8Array(0), target);
  }
  const conn = channelConnection(ws, protocol.includes("base64"), ctx.timeouts.idleTimeoutMs);
  const where = `${target.namespace}/${target.pod}`;
  const life = sessionLifetime(ctx, "portforward", conn.closed);
  try {
    await Promise.all(ports.map(async (port, i) => {
      const prefix = new Uint8Array([port & 0xff, port >> 8]);
      await conn.send(2 * i, prefix);
      await conn.send(2 * i + 1, prefix);
      const out = ownedWritable(
        conn.writable(2 * i),
        (n) => ctx.metrics.bytes("portforward", "out", n),
      );
      try {
        await ctx.runtime.portForward(target.namespace, target.pod, port, {
          readable: conn.readable(2 * i),
          writable: out.writable,
          signal: life.signal,
        });
      } catch (err) {
        const message = `error forwarding port ${port} to pod ${where}: ${(err as Error).message}`;
        await conn.send(2 * i + 1, new TextEncoder().encode(message)).catch(() => {});
      }
      await out.finish();
    }));
  } finally {
    life.end();
    conn.close(1000);
  }
}

/** A byte-stream Duplex over a WebSocket's binary messages (for the SPDY tunnel). */
function tunnel(ws: WsConnection): Duplex {
  const duplex = new Duplex({
    write(chunk: Uint8Array, _enc, callback) {
      ws.send(true, chunk).then(() => callback(null), (err) => callback(err));
    },
    read() {
      ws.resume();
    },
    final(callback) {
      ws.close(1000);
      callback();
    },
    destroy(err, callback) {
      ws.terminate();
      callback(err);
    },
  });
  ws.onMessage = (data) => {
    if (!duplex.push(data)) ws.pause();
  };
  void ws.closed.then(() => {
    duplex.push(null);
    duplex.destroy();
  });
  return duplex;
}
