// Logs kept as timestamped lines ("<RFC 3339 time> <text>", the form `docker logs
// --timestamps` writes), filtered the way `kubectl logs` asks: since a time, the last N lines,
// with or without the timestamps, at most N bytes. Pure.

import type { LogOptions } from "./types.ts";

const enc = new TextEncoder();

/** The earliest time a line may have to be shown (sinceTime, or now - sinceSeconds). */
export function sinceOf(opts: LogOptions, now = Date.now()): number | undefined {
  if (opts.sinceTime) return opts.sinceTime.getTime();
  if (opts.sinceSeconds !== undefined) return now - opts.sinceSeconds * 1000;
  return undefined;
}

/** Filters timestamped `text` by `opts`; returns the bytes to send. */
export function filterTimestamped(text: string, opts: LogOptions, now = Date.now()): Uint8Array {
  let lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const since = sinceOf(opts, now);
  if (since !== undefined) {
    lines = lines.filter((l) => {
      const t = Date.parse(l.slice(0, l.indexOf(" ")));
      return Number.isNaN(t) || t >= since;
    });
  }
  if (opts.tailLines !== undefined) lines = opts.tailLines > 0 ? lines.slice(-opts.tailLines) : [];
  if (!opts.timestamps) lines = lines.map((l) => l.slice(l.indexOf(" ") + 1));
  const bytes = enc.encode(lines.map((l) => `${l}\n`).join(""));
  return opts.limitBytes !== undefined ? bytes.subarray(0, opts.limitBytes) : bytes;
}

/** Passes at most `limit` bytes of `source` through, then ends (and cancels the source). */
export function limitBytes(
  source: ReadableStream<Uint8Array>,
  limit: number | undefined,
): ReadableStream<Uint8Array> {
  if (limit === undefined) return source;
  let left = limit;
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) return controller.close();
      const chunk = value.subarray(0, left);
      left -= chunk.length;
      controller.enqueue(chunk);
      if (left <= 0) {
        controller.close();
        await reader.cancel().catch(() => {});
      }
    },
    cancel: () => reader.cancel(),
  });
}
