// Stream plumbing shared by the exec/attach/port-forward handlers: writables the runtime can
// close (or not) without breaking the server's own close, byte counting, and the decoder of
// the resize channel (a sequence of JSON objects, possibly split across frames).

import type { TerminalSize } from "../../runtime/types.ts";

export interface OwnedWritable {
  /** Handed to the runtime; closing it closes the underlying stream once. */
  writable: WritableStream<Uint8Array>;
  /** Closes the underlying stream if nobody has; never throws. */
  finish(): Promise<void>;
}

/**
 * A writable over `target` that keeps the target's writer to itself, so the server can close
 * the target whatever the runtime did with the handed-out stream. Each write resolves when
 * the target accepted it: backpressure carries through.
 */
export function ownedWritable(
  target: WritableStream<Uint8Array>,
  onBytes: (n: number) => void = () => {},
): OwnedWritable {
  const writer = target.getWriter();
  let closed = false;
  const closeOnce = async () => {
    if (closed) return;
    closed = true;
    await writer.close().catch(() => {});
  };
  return {
    writable: new WritableStream<Uint8Array>({
      async write(chunk) {
        if (chunk.byteLength === 0) return;
        onBytes(chunk.byteLength);
        await writer.write(chunk);
      },
      close: closeOnce,
      async abort(reason) {
        if (closed) return;
        closed = true;
        await writer.abort(reason).catch(() => {});
      },
    }),
    finish: closeOnce,
  };
}

/** `source` with every chunk counted; errors of the source end the stream quietly. */
export function countedReadable(
  source: ReadableStream<Uint8Array>,
  onBytes: (n: number) => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        onBytes(value.byteLength);
        controller.enqueue(value);
      } catch {
        // The caller's input ending abnormally is, for the command, the end of its input.
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Splits concatenated JSON objects (`{"Width":80,"Height":24}{...}`) out of a byte stream. */
export function jsonObjectSplitter(): (chunk: string) => string[] {
  let buffer = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  return (chunk) => {
    const out: string[] = [];
    const base = buffer.length;
    buffer += chunk;
    for (let i = base; i < buffer.length; i++) {
      const ch = buffer[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === "\\") escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === "{") {
        if (depth++ === 0) start = i;
      } else if (ch === "}" && depth > 0 && --depth === 0) {
        out.push(buffer.slice(start, i + 1));
        start = -1;
      }
    }
    if (depth === 0) buffer = "";
    else if (start > 0) {
      buffer = buffer.slice(start);
      start = 0;
    }
    if (buffer.length > 64 * 1024) throw new Error("resize message larger than 64 KiB");
    return out;
  };
}

/** Terminal sizes decoded from the resize channel; malformed messages are skipped. */
export function resizeEvents(source: ReadableStream<Uint8Array>): ReadableStream<TerminalSize> {
  const reader = source.getReader();
  const decoder = new TextDecoder();
  const split = jsonObjectSplitter();
  const pending: TerminalSize[] = [];
  return new ReadableStream<TerminalSize>({
    async pull(controller) {
      while (pending.length === 0) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch {
          return controller.close();
        }
        if (chunk.done) return controller.close();
        for (const text of split(decoder.decode(chunk.value, { stream: true }))) {
          try {
            const size = JSON.parse(text) as { Width?: unknown; Height?: unknown };
            const width = Number(size.Width);
            const height = Number(size.Height);
            if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0) {
              pending.push({ width, height });
            }
          } catch {
            // not JSON: skipped
          }
        }
      }
      controller.enqueue(pending.shift()!);
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
