// A VM container's logs are its serial console: a file the backend appends to. This reads
// it the way `kubectl logs` asks: all of it or the last N lines, at most N bytes, and
// (follow) new output as it is written until the caller cancels.

import type { LogOptions } from "./types.ts";

const POLL_MS = 250;

/** The last `n` lines of `text` (a trailing newline does not count as a line). */
export function tailLines(text: Uint8Array, n: number): Uint8Array {
  let count = 0;
  let i = text.length - 1;
  if (i >= 0 && text[i] === 10) i--;
  for (; i >= 0; i--) {
    if (text[i] === 10 && ++count === n) return text.subarray(i + 1);
  }
  return text;
}

export function consoleLogStream(path: string, opts: LogOptions): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let sent = 0;
  const limit = opts.limitBytes ?? Infinity;
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      let initial: Uint8Array;
      try {
        initial = await Deno.readFile(path);
      } catch {
        initial = new Uint8Array();
      }
      const offset = initial.length;
      if (opts.tailLines !== undefined) initial = tailLines(initial, opts.tailLines);
      const first = initial.subarray(0, Math.min(initial.length, limit));
      if (first.length) controller.enqueue(first);
      sent += first.length;
      if (!opts.follow || sent >= limit) return controller.close();
      file = await Deno.open(path, { read: true }).catch(() => undefined);
      await file?.seek(offset, Deno.SeekMode.Start);
    },
    async pull(controller) {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        if (opts.signal?.aborted) return controller.close();
        const n = file ? await file.read(buf) : null;
        if (n) {
          const chunk = buf.slice(0, Math.min(n, limit - sent));
          sent += chunk.length;
          controller.enqueue(chunk);
          if (sent >= limit) controller.close();
          return;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
        file ??= await Deno.open(path, { read: true }).catch(() => undefined);
      }
    },
    cancel() {
      file?.close();
    },
  });
}
