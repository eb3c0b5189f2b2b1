// Port-forward over SPDY (portforward.k8s.io): every forwarded connection is a pair of streams
// (error + data) sharing a `requestid` and a `port` header. When both are there the runtime
// carries the connection; a failure is written on the error stream. The session lives until
// the caller closes it, so one session carries any number of ports and connections.

import type { Duplex } from "node:stream";
import type { ServerContext } from "../context.ts";
import { sessionLifetime } from "./lifetime.ts";
import { ownedWritable } from "./io.ts";
import { parsePortHeader } from "./options.ts";
import { RstStatus } from "./spdy/frames.ts";
import { SpdySession } from "./spdy/session.ts";
import type { SpdyStream } from "./spdy/stream.ts";

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: ReturnType<typeof setTimeout>;
}

/** The kubelet's request id: the header, or (old clients) derived from the stream id. */
function requestId(stream: SpdyStream, type: string): string {
  const id = stream.header("requestid");
  if (id) return id;
  return String(type === "data" ? stream.id - 2 : stream.id);
}

export async function serveSpdyPortForward(
  ctx: ServerContext,
  socket: Duplex,
  head: Uint8Array,
  target: { namespace: string; pod: string },
): Promise<void> {
  const where = `${target.namespace}/${target.pod}`;
  const log = ctx.log.with({ portForward: where });
  const pairs = new Map<string, Pair>();
  const life = sessionLifetime(ctx, "portforward");
  const running = new Set<Promise<void>>();

  const forward = async (pair: Required<Omit<Pair, "timer">>, port: number) => {
    const out = ownedWritable(
      pair.data.writable,
      (n) => ctx.metrics.bytes("portforward", "out", n),
    );
    // Once the runtime is done, whatever the caller still sends is dropped (the pipe is
    // aborted, which cancels the stream) instead of piling up unread in the session.
    const done = new AbortController();
    const input = pair.data.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          ctx.metrics.bytes("portforward", "in", chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
      { signal: done.signal },
    );
    try {
      await ctx.runtime.portForward(target.namespace, target.pod, port, {
        readable: input,
        writable: out.writable,
        signal: life.signal,
      });
      await out.finish();
      await pair.error.end();
    } catch (err) {
      const message = `error forwarding port ${port} to pod ${where}: ${(err as Error).message}`;
      log.info("port-forward connection failed", { port, error: err });
      const writer = pair.error.writable.getWriter();
      await writer.write(new TextEncoder().encode(message)).catch(() => {});
      await writer.close().catch(() => {});
      pair.data.reset(RstStatus.CANCEL);
    } finally {
      done.abort();
    }
  };

  const session = new SpdySession(socket, {
    server: true,
    idleTimeoutMs: ctx.timeouts.idleTimeoutMs,
    log,
    onStream(stream) {
      const port = parsePortHeader(stream.header("port"));
      const type = stream.header("streamtype");
      if (!port.ok || (type !== "data" && type !== "error")) {
        log.info("port-forward: stream refused", {
          why: port.ok ? `invalid stream type ${JSON.stringify(type)}` : port.message,
        });
        return stream.reset(RstStatus.REFUSED_STREAM);
      }
      void stream.reply();
      const id = requestId(stream, type);
      let pair = pairs.get(id);
      if (!pair) {
        pair = {
          timer: setTimeout(() => {
            pairs.delete(id);
            const message = `timed out waiting for the streams of request ${id}`;
            log.warn(`port-forward: ${message}`);
            if (pair!.error) {
              const writer = pair!.error.writable.getWriter();
              void writer.write(new TextEncoder().encode(message)).then(() => writer.close()).catch(
                () => {},
              );
            }
            pair!.data?.reset(RstStatus.CANCEL);
          }, ctx.timeouts.creationTimeoutMs),
        };
        pairs.set(id, pair);
      }
      if (pair[type]) {
        log.info("port-forward: duplicate stream refused", { requestId: id, streamtype: type });
        return stream.reset(RstStatus.PROTOCOL_ERROR);
      }
      pair[type] = stream;
      if (pair.data && pair.error) {
        clearTimeout(pair.timer);
        pairs.delete(id);
        const done = forward({ data: pair.data, error: pair.error }, port.value);
        running.add(done);
        void done.finally(() => running.delete(done));
      }
    },
  }, head);

  const closeOnStop = () => void session.close();
  life.signal.addEventListener("abort", closeOnStop, { once: true });
  try {
    await session.closed;
    life.abort();
    await Promise.allSettled([...running]);
  } finally {
    for (const p of pairs.values()) clearTimeout(p.timer);
    life.end();
  }
}
