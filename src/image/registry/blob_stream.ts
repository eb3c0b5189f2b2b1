// Streaming a blob from a registry so that a broken connection costs a reconnect, not the
// download: when the body fails (or ends early), the stream asks again with
// `Range: bytes=<received>-` and carries on; a registry that ignores Range gets the bytes
// already delivered skipped. The consumer sees one uninterrupted byte stream and verifies
// the digest itself. It is a byte stream: a BYOB reader (the unpacker's) has each network
// read land in one reused buffer of ours and then in its own, so no chunk is allocated
// per read; a default reader gets chunks as usual. A
// registry that stops answering (no response, or no bytes, for the read timeout) is a
// failure like a broken connection: the request is dropped, `onStall` is told, and the
// download resumes from the byte it stopped at.

import { DigestMismatchError } from "../format/digest.ts";
import { isRetryable, RegistryStallError } from "./errors.ts";
import { messageOf } from "../../util/errors.ts";
import type { Descriptor } from "../format/manifest.ts";
import { formatReference, type ImageReference } from "./reference.ts";
import type { RegistryClient } from "./client.ts";

export interface BlobStreamOptions {
  /** Start this many bytes into the blob (a resumed download). */
  offset?: number;
  /** Read only up to this offset (exclusive); default the descriptor's size. */
  end?: number;
  signal?: AbortSignal;
  /** Called after every chunk with the bytes received so far in this stream. */
  onBytes?: (n: number) => void;
  /** Called when the registry stalled and the download is about to resume. */
  onStall?: (stall: { message: string; atByte: number; attempt: number }) => void;
}

/** The largest network read (reads here bring 150-200 KB); the reader's buffer may be smaller. */
const READ_BYTES = 256 << 10;
/** Chunk size handed to default (non-BYOB) readers. */
const CHUNK_BYTES = 64 << 10;

/** Counters a test or a progress display can read. */
export interface BlobStreamStats {
  /** Requests made for this blob (1 when nothing broke). */
  requests: number;
  /** Requests that asked for a byte range. */
  rangeRequests: number;
}

/**
 * A ReadableStream of the blob's bytes [offset, end). Errors after the retry budget is
 * spent (consecutive failures without progress), or at once when not retryable.
 */
export function blobStream(
  client: RegistryClient,
  ref: ImageReference,
  desc: Descriptor,
  opts: BlobStreamOptions = {},
  stats: BlobStreamStats = { requests: 0, rangeRequests: 0 },
): ReadableStream<Uint8Array> {
  const what = `image ${formatReference(ref)}: blob ${desc.digest}`;
  const end = opts.end ?? desc.size;
  let position = opts.offset ?? 0;
  let reader: ReadableStreamBYOBReader | undefined;
  // Reused for every read; a read takes it over and hands it back (or loses it on failure).
  let scratch = new Uint8Array(READ_BYTES);
  let skip = 0;
  let failures = 0;
  let request: AbortController | undefined;
  const timeoutMs = client.transport.readTimeoutMs;

  /** `step`, unless the registry stays silent past the read timeout (then it stalled). */
  const patiently = async <T>(step: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new RegistryStallError(ref.registry, timeoutMs, position);
        request?.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      return await Promise.race([step, stalled]);
    } finally {
      clearTimeout(timer);
    }
  };

  const open = async () => {
    const headers: Record<string, string> = {};
    const ranged = position > 0 || end < desc.size;
    if (ranged) headers.Range = `bytes=${position}-${end - 1}`;
    stats.requests++;
    if (ranged) stats.rangeRequests++;
    request = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, request.signal]) : request.signal;
    const response = await patiently(client.request(ref, {
      path: `blobs/${desc.digest}`,
      headers,
      signal,
      retry: false,
    }));
    if (ranged && response.status !== 206) {
      // Range ignored: the whole blob comes again; drop what we already have.
      skip = position;
    } else {
      skip = 0;
    }
    if (!response.body) throw new Error(`${what}: response without a body`);
    reader = response.body.getReader({ mode: "byob" });
  };

  /** Handles a failure: errors the stream and returns true when it is final. */
  const failed = async (
    err: unknown,
    controller: ReadableByteStreamController,
  ): Promise<boolean> => {
    reader?.cancel().catch(() => {});
    reader = undefined;
    request?.abort();
    failures++;
    if (scratch.byteLength === 0) scratch = new Uint8Array(READ_BYTES);
    if (opts.signal?.aborted) {
      controller.error(opts.signal.reason ?? err);
      return true;
    }
    if (!isRetryable(err) || failures >= client.transport.retry.attempts) {
      controller.error(
        err instanceof Error && err.message.includes(what)
          ? err
          : new Error(`${what}: download failed at byte ${position}: ${messageOf(err)}`),
      );
      return true;
    }
    const delay = client.transport.backoffMs(failures);
    if (err instanceof RegistryStallError) {
      opts.onStall?.({
        message: `${err.message}; resuming (attempt ${failures + 1})`,
        atByte: position,
        attempt: failures + 1,
      });
    }
    client.transport.log.warn("blob download interrupted; resuming", {
      blob: desc.digest,
      at: position,
      attempt: failures,
      delayMs: delay,
      error: messageOf(err),
    });
    await new Promise((r) => setTimeout(r, delay));
    return false;
  };

  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK_BYTES,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      const into = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      for (;;) {
        if (position >= end) {
          controller.close();
          request.respond(0);
          return;
        }
        try {
          if (!reader) await open();
          const room = Math.min(into.byteLength, scratch.byteLength);
          const { done, value } = await patiently(reader!.read(scratch.subarray(0, room)));
          if (value) scratch = new Uint8Array(value.buffer);
          if (done || !value) {
            reader = undefined;
            throw new Deno.errors.UnexpectedEof(
              `connection ended at byte ${position} of ${end}`,
            );
          }
          let chunk = value;
          if (skip > 0) {
            const drop = Math.min(skip, chunk.byteLength);
            skip -= drop;
            chunk = chunk.subarray(drop);
            if (chunk.byteLength === 0) continue;
          }
          if (position + chunk.byteLength > end) {
            if (end < desc.size) chunk = chunk.subarray(0, end - position);
            else {
              await reader?.cancel();
              controller.error(
                new DigestMismatchError(what, `${desc.size} bytes`, "more bytes than that"),
              );
              return;
            }
          }
          position += chunk.byteLength;
          failures = 0;
          opts.onBytes?.(chunk.byteLength);
          into.set(chunk);
          request.respond(chunk.byteLength);
          return;
        } catch (err) {
          if (await failed(err, controller)) return;
        }
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason).catch(() => {});
    },
  });
}
