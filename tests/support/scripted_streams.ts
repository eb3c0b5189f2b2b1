// The kubelet-API side of the scripted test runtime, doing real, checkable work on this host:
// exec runs the command with the local `sh` (under util-linux `script` for a pty when a TTY
// is asked for, sized from the first resize event), attach talks to a small console process,
// logs come from a scripted per-container log with timestamps, port-forward connects to a
// local TCP port. Everything honours backpressure and the session's abort signal.

import type { ExecIO, LogOptions, PortStream, TerminalSize } from "../../src/runtime/types.ts";

export interface LogLine {
  time: Date;
  text: string;
}

/** A container's log: past lines plus followers waiting for new ones. */
export class ScriptedLog {
  readonly lines: LogLine[] = [];
  private followers = new Set<(line: LogLine | undefined) => void>();

  append(text: string, time = new Date()): void {
    const line = { time, text };
    this.lines.push(line);
    for (const f of this.followers) f(line);
  }

  /** Ends every follow stream (the container stopped). */
  end(): void {
    for (const f of this.followers) f(undefined);
    this.followers.clear();
  }

  stream(opts: LogOptions): ReadableStream<Uint8Array> {
    const enc = new TextEncoder();
    const format = (l: LogLine) =>
      enc.encode(`${opts.timestamps ? `${rfc3339Nano(l.time)} ` : ""}${l.text}\n`);
    const since = opts.sinceTime?.getTime() ??
      (opts.sinceSeconds !== undefined ? Date.now() - opts.sinceSeconds * 1000 : -Infinity);
    let lines = this.lines.filter((l) => l.time.getTime() >= since);
    if (opts.tailLines !== undefined) {
      lines = lines.slice(Math.max(0, lines.length - opts.tailLines));
    }
    const pending = lines.map(format);
    let wake: (() => void) | undefined;
    let ended = !opts.follow;
    const follower = (line: LogLine | undefined) => {
      if (line) pending.push(format(line));
      else ended = true;
      wake?.();
    };
    if (opts.follow) this.followers.add(follower);
    const stop = () => {
      ended = true;
      this.followers.delete(follower);
      wake?.();
    };
    opts.signal?.addEventListener("abort", stop, { once: true });
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (pending.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
        const next = pending.shift();
        if (next) controller.enqueue(next);
        else {
          this.followers.delete(follower);
          controller.close();
        }
      },
      cancel: stop,
    }, { highWaterMark: 0 });
  }
}

/** Time as Kubernetes writes log timestamps: RFC 3339 with nanoseconds. */
export function rfc3339Nano(t: Date): string {
  return t.toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}

function shellQuote(words: string[]): string {
  return words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
}

/** The first size on `resize` within `ms`; later sizes go to `seen` as they come. */
async function firstSize(
  resize: ReadableStream<TerminalSize> | undefined,
  seen: TerminalSize[],
  ms: number,
): Promise<TerminalSize | undefined> {
  if (!resize) return undefined;
  const reader = resize.getReader();
  let first: ((s: TerminalSize | undefined) => void) | undefined;
  const got = new Promise<TerminalSize | undefined>((r) => (first = r));
  (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done || !value) break;
      seen.push(value);
      first?.(value);
      first = undefined;
    }
    first?.(undefined);
  })();
  const timer = new Promise<undefined>((r) => setTimeout(() => r(undefined), ms));
  return await Promise.race([got, timer]);
}

/**
 * Runs `command` here with `io`; resolves with its exit code (127 for a missing command, as
 * the shell reports it; 128+n when killed by signal n).
 */
export async function runLocal(
  command: string[],
  io: ExecIO,
  resizes: TerminalSize[],
): Promise<number> {
  let argv: string[];
  if (io.tty) {
    const size = await firstSize(io.resize, resizes, 500);
    const stty = size ? `stty cols ${size.width} rows ${size.height} 2>/dev/null; ` : "";
    argv = ["script", "-qfec", stty + "exec " + shellQuote(command), "/dev/null"];
  } else {
    argv = ["sh", "-c", 'exec "$@"', "sh", ...command];
  }
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: io.stdin ? "piped" : "null",
    stdout: io.stdout ? "piped" : "null",
    stderr: io.stderr ? "piped" : "null",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  io.signal?.addEventListener("abort", kill, { once: true });
  const pipes: Promise<unknown>[] = [];
  if (io.stdin) pipes.push(io.stdin.pipeTo(child.stdin).catch(() => {}));
  // Output pipes close the caller's streams when the command's output ends.
  if (io.stdout) pipes.push(child.stdout.pipeTo(io.stdout).catch(() => {}));
  if (io.stderr) pipes.push(child.stderr.pipeTo(io.stderr).catch(() => {}));
  const status = await child.status;
  io.signal?.removeEventListener("abort", kill);
  // stdin may still be open (the caller never closed it): that pipe is not waited for.
  await Promise.all(pipes.slice(io.stdin ? 1 : 0));
  return status.signal ? 128 + signalNumber(status.signal) : status.code;
}

function signalNumber(s: Deno.Signal): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[s] ?? 0;
}

/**
 * The container's console for attach: each line written to it comes back as `console: LINE`
 * (and goes to the container's log). Resolves when the caller's input ends, or, without
 * input, when the caller leaves.
 */
export async function attachConsole(io: ExecIO, log: ScriptedLog): Promise<void> {
  if (!io.stdin) {
    if (io.signal && !io.signal.aborted) {
      await new Promise((r) => io.signal!.addEventListener("abort", r, { once: true }));
    }
    return;
  }
  const script = 'while IFS= read -r line; do echo "console: $line"; done';
  const argv = io.tty ? ["script", "-qfec", `sh -c ${shellQuote([script])}`, "/dev/null"] : [
    "sh",
    "-c",
    script,
  ];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  };
  io.signal?.addEventListener("abort", kill, { once: true });
  const input = io.stdin.pipeTo(child.stdin).catch(() => {});
  const out = io.stdout?.getWriter();
  const dec = new TextDecoder();
  let partial = "";
  for await (const chunk of child.stdout) {
    partial += dec.decode(chunk, { stream: true });
    const lines = partial.split(/\r?\n/);
    partial = lines.pop()!;
    for (const l of lines) log.append(l);
    await out?.write(chunk).catch(() => {});
  }
  await child.status;
  await input;
  io.signal?.removeEventListener("abort", kill);
  await out?.close().catch(() => {});
}

/**
 * Carries one forwarded connection to 127.0.0.1:`port`. Like containerd: once either direction
 * ends, the other gets one second to finish, then the connection is closed.
 */
export async function forwardToLocal(port: number, stream: PortStream): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const close = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  stream.signal?.addEventListener("abort", close, { once: true });
  const up = stream.readable.pipeTo(conn.writable, { preventClose: true })
    .then(() => conn.closeWrite())
    .catch(() => {});
  const down = conn.readable.pipeTo(stream.writable).catch(() => {});
  await Promise.race([up, down]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([up, down]),
    new Promise((r) => (timer = setTimeout(r, 1_000))),
  ]);
  clearTimeout(timer);
  stream.signal?.removeEventListener("abort", close);
  close();
}
