// A VM container's logs are its serial console: a file the backend appends to. While a run is
// up the agent notes when each console line arrived (an index beside the log: "<offset>
// <epoch ms>" per line start), so `kubectl logs --timestamps/--since/--since-time` work on a
// console that has no times of its own. Reading honours tail (0 included), limitBytes, and
// follow, which ends when the caller goes away or the run ends.

import type { LogOptions } from "./types.ts";
import { filterTimestamped, sinceOf } from "./log_lines.ts";

const POLL_MS = 250;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The last `n` lines of `text` (a trailing newline does not count as a line); none for 0. */
export function tailLines(text: Uint8Array, n: number): Uint8Array {
  if (n <= 0) return text.subarray(text.length);
  let count = 0;
  let i = text.length - 1;
  if (i >= 0 && text[i] === 10) i--;
  for (; i >= 0; i--) {
    if (text[i] === 10 && ++count === n) return text.subarray(i + 1);
  }
  return text;
}

/** Parses an index: line-start offsets with their arrival times, in order. */
export function parseIndex(text: string): { offset: number; at: number }[] {
  const out: { offset: number; at: number }[] = [];
  for (const line of text.split("\n")) {
    const [o, t] = line.split(" ");
    if (o && t) out.push({ offset: Number(o), at: Number(t) });
  }
  return out;
}

/**
 * The console as timestamped lines ("<RFC 3339> <text>"): each line gets the time the index
 * has for its start, else the time of the line before it, else `fallback`.
 */
export function timestampedConsole(log: Uint8Array, index: string, fallback: number): string {
  const starts = parseIndex(index);
  let k = 0;
  let at = starts[0]?.at ?? fallback;
  const lines: string[] = [];
  let start = 0;
  while (start < log.length) {
    let end = log.indexOf(10, start);
    if (end < 0) end = log.length;
    while (k < starts.length && starts[k].offset <= start) at = starts[k++].at;
    const text = dec.decode(log.subarray(start, end)).replace(/\r$/, "");
    lines.push(`${new Date(at).toISOString()} ${text}`);
    start = end + 1;
  }
  return lines.map((l) => `${l}\n`).join("");
}

/**
 * Notes the arrival time of every new console line while `signal` is not aborted. Resumes
 * after what the index already covers (an adopted VM: lines written while the agent was away
 * get the time it came back).
 */
export async function indexConsole(
  logPath: string,
  indexPath: string,
  signal: AbortSignal,
): Promise<void> {
  const known = parseIndex(await Deno.readTextFile(indexPath).catch(() => ""));
  const size = (await Deno.stat(logPath).catch(() => undefined))?.size ?? 0;
  // Everything up to the log's size is covered once the index has an entry; otherwise from 0.
  let done = known.length ? size : 0;
  let lineStart = done === 0;
  while (!signal.aborted) {
    const file = await Deno.open(logPath, { read: true }).catch(() => undefined);
    if (file) {
      try {
        await file.seek(done, Deno.SeekMode.Start);
        const buf = new Uint8Array(64 * 1024);
        const entries: string[] = [];
        const now = Date.now();
        for (;;) {
          const n = await file.read(buf);
          if (!n) break;
          for (let i = 0; i < n; i++) {
            if (lineStart) entries.push(`${done + i} ${now}\n`);
            lineStart = buf[i] === 10;
          }
          done += n;
        }
        if (entries.length) {
          await Deno.writeTextFile(indexPath, entries.join(""), { append: true });
        }
      } finally {
        file.close();
      }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, POLL_MS);
      signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}

export interface ConsoleSource {
  log: string;
  /** The arrival-time index beside it. */
  index: string;
  /** Aborted when the run that writes the log has ended: follow stops. */
  ended?: AbortSignal;
}

export function consoleLogStream(src: ConsoleSource, opts: LogOptions): ReadableStream<Uint8Array> {
  let file: Deno.FsFile | undefined;
  let sent = 0;
  const limit = opts.limitBytes ?? Infinity;
  const timed = opts.timestamps || sinceOf(opts) !== undefined;
  let pending = ""; // a partial line while following with timestamps
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const log = await Deno.readFile(src.log).catch(() => new Uint8Array());
      const offset = log.length;
      let first: Uint8Array;
      if (timed) {
        const index = await Deno.readTextFile(src.index).catch(() => "");
        first = filterTimestamped(timestampedConsole(log, index, Date.now()), opts);
      } else {
        first = opts.tailLines !== undefined ? tailLines(log, opts.tailLines) : log;
        first = first.subarray(0, Math.min(first.length, limit));
      }
      if (first.length) controller.enqueue(first);
      sent += first.length;
      if (!opts.follow || sent >= limit || src.ended?.aborted) return controller.close();
      file = await Deno.open(src.log, { read: true }).catch(() => undefined);
      await file?.seek(offset, Deno.SeekMode.Start);
    },
    async pull(controller) {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        if (opts.signal?.aborted) return controller.close();
        const ended = src.ended?.aborted; // read once more after the run ended, then close
        const n = file ? await file.read(buf) : null;
        if (n) {
          let chunk = buf.slice(0, n);
          if (opts.timestamps) {
            const text = pending + dec.decode(chunk);
            const cut = text.lastIndexOf("\n") + 1;
            pending = text.slice(cut);
            const stamp = new Date().toISOString();
            chunk = enc.encode(
              text.slice(0, cut).split("\n").slice(0, -1).map((l) => `${stamp} ${l}\n`).join(""),
            );
          }
          chunk = chunk.subarray(0, Math.min(chunk.length, limit - sent));
          sent += chunk.length;
          if (chunk.length) controller.enqueue(chunk);
          if (sent >= limit) controller.close();
          return;
        }
        if (ended) return controller.close();
        await new Promise((r) => setTimeout(r, POLL_MS));
        file ??= await Deno.open(src.log, { read: true }).catch(() => undefined);
      }
    },
    cancel() {
      file?.close();
    },
  });
}
