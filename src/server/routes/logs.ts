// /containerLogs/{ns}/{pod}/{container}: streams the runtime's log of a container to the
// caller with backpressure, ending when the log ends, the caller leaves or the server stops.
// limitBytes is enforced here as well, so a runtime that over-delivers cannot break it.

import type { IncomingMessage, ServerResponse } from "node:http";
import { NotFoundError } from "../../runtime/types.ts";
import type { ServerContext } from "../context.ts";
import { parseLogOptions } from "../log_options.ts";
import { lookupPod } from "../pod_lookup.ts";
import { failure, sendStatus, sendText } from "../status.ts";

export async function containerLogs(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: { namespace: string; pod: string; container: string },
  query: URLSearchParams,
): Promise<void> {
  const parsed = parseLogOptions(query);
  if (!parsed.ok) return sendStatus(res, failure(parsed.code, parsed.message));
  const found = lookupPod(ctx.pods, target.namespace, target.pod, target.container);
  if (!found.ok) return sendStatus(res, found.status);

  const abort = new AbortController();
  const stop = () => abort.abort();
  res.once("close", stop);
  req.once("aborted", stop);
  ctx.closing.addEventListener("abort", stop, { once: true });
  try {
    let stream: ReadableStream<Uint8Array>;
    try {
      stream = await ctx.runtime.containerLogs(target.namespace, target.pod, target.container, {
        ...parsed.options,
        signal: abort.signal,
      });
    } catch (err) {
      // As the kubelet: the pod and container exist (checked above), so what the runtime
      // cannot give (a previous instance, a container not started yet) is a bad request,
      // answered in plain text, which the API server passes on to kubectl as it is.
      const where = `${target.namespace}/${target.pod}/${target.container}`;
      if (err instanceof NotFoundError) return sendText(res, 400, err.message);
      ctx.log.warn("kubelet API: container logs failed", { container: where, error: err });
      return sendText(res, 500, `logs of ${where}: ${(err as Error).message}`);
    }
    res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-cache" });
    res.flushHeaders();
    if (parsed.options.follow) ctx.metrics.session("logs", 1);
    try {
      await pipeToResponse(ctx, stream, res, abort.signal, parsed.options.limitBytes);
    } finally {
      if (parsed.options.follow) ctx.metrics.session("logs", -1);
    }
    res.end();
  } finally {
    ctx.closing.removeEventListener("abort", stop);
  }
}

async function pipeToResponse(
  ctx: ServerContext,
  stream: ReadableStream<Uint8Array>,
  res: ServerResponse,
  signal: AbortSignal,
  limitBytes: number | undefined,
): Promise<void> {
  const reader = stream.getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  let left = limitBytes ?? Infinity;
  try {
    while (left > 0 && !signal.aborted) {
      const { value, done } = await reader.read();
      if (done) break;
      const chunk = value.byteLength > left ? value.subarray(0, left) : value;
      left -= chunk.byteLength;
      ctx.metrics.bytes("logs", "out", chunk.byteLength);
      if (!res.write(chunk)) await drainOrClose(res);
    }
  } catch (err) {
    if (!signal.aborted) ctx.log.warn("kubelet API: reading container logs failed", { error: err });
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.cancel().catch(() => {});
  }
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}
