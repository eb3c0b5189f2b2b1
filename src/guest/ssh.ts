// SSH into guests (shared by the qemu and vz backends): connecting with a password or a
// private key, waiting until a fresh guest answers, and running commands with their
// stdin/stdout/stderr, tty and exit code. Built on ssh2.

// @deno-types="@types/ssh2"
import type { ClientChannel, ConnectConfig } from "ssh2";
import net from "node:net";
import type { SshCredentials } from "../config/types.ts";
import { killTreeScript, markerFilter, trackedLine } from "./process_tree.ts";
import { commandLine } from "./quote.ts";

export interface SshTarget {
  host: string;
  port?: number;
  credentials: SshCredentials;
}

export interface SshSession {
  /** Runs argv (quoted, never interpreted by a shell) and resolves with its exit code. */
  exec(argv: string[], io?: SshIO): Promise<number>;
  /** Runs a raw command line through the login shell. */
  execLine(line: string, io?: SshIO): Promise<number>;
  close(): void;
  readonly closed: Promise<void>;
}

export interface SshIO {
  stdin?: ReadableStream<Uint8Array> | Uint8Array | string;
  /** Output sinks; a returned promise pauses the channel until it settles (backpressure). */
  stdout?: (chunk: Uint8Array) => void | Promise<void>;
  stderr?: (chunk: Uint8Array) => void | Promise<void>;
  env?: Record<string, string>;
  tty?: { rows: number; cols: number };
  /** Terminal sizes after the first (tty only). */
  resize?: ReadableStream<{ width: number; height: number }>;
  signal?: AbortSignal;
}

/** Hands `chunk` to `sink`, pausing `stream` until a returned promise settles. */
function deliver(
  stream: { pause(): void; resume(): void },
  sink: ((chunk: Uint8Array) => void | Promise<void>) | undefined,
  chunk: Uint8Array,
) {
  const pending = sink?.(chunk);
  if (pending instanceof Promise) {
    stream.pause();
    pending.then(() => stream.resume(), () => stream.resume());
  }
}

async function connectConfig(t: SshTarget, timeoutMs: number): Promise<ConnectConfig> {
  const c = t.credentials;
  const cfg: ConnectConfig = {
    host: t.host,
    port: t.port ?? 22,
    username: c.user,
    readyTimeout: timeoutMs,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
  };
  if (c.privateKey) cfg.privateKey = c.privateKey;
  else if (c.privateKeyPath) cfg.privateKey = await Deno.readTextFile(c.privateKeyPath);
  if (c.privateKeyPassphrase) cfg.passphrase = c.privateKeyPassphrase;
  if (c.password) cfg.password = c.password;
  return cfg;
}

export async function connectSsh(t: SshTarget, timeoutMs = 10_000): Promise<SshSession> {
  if (!t.credentials.user) throw new Error("ssh: no user (set VZ_SSH_USER)");
  const cfg = await connectConfig(t, timeoutMs);
  // ssh2 is loaded on first use: an agent without VM pods should not carry its ~8 MB.
  // @deno-types="@types/ssh2"
  const { Client } = await import("ssh2");
  const client = new Client();
  // Our own socket: ssh2's destroy() does nothing once end() has run, and a guest that is
  // already gone never answers the goodbye, so close() must be able to drop the socket itself.
  const sock = net.connect({ host: t.host, port: t.port ?? 22 });
  cfg.sock = sock;
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    client.once("ready", () => {
      ready = true;
      resolve();
    });
    // Kept for the client's whole life: ssh2 may emit several errors (a handshake timeout,
    // then "Connection lost before handshake"; a reset, then another), and an 'error' with no
    // listener throws out of the event loop. Errors after 'ready' end in 'close', which the
    // callers watch; before it, the first one fails the connect.
    client.on("error", (err: Error) => {
      if (ready) return;
      reject(new Error(`ssh ${t.host}: ${err.message}`));
      client.destroy();
      sock.destroy();
    });
    client.connect(cfg);
  });
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));

  /**
   * Runs `line`. With a signal, the line announces its pid (process_tree.ts) so that an abort
   * (the caller went away, a probe timed out) ends the whole process tree, not only the channel.
   */
  function run(line: string, execs: boolean, io: SshIO = {}): Promise<number> {
    const tracked = io.signal !== undefined;
    let pid: number | undefined;
    const found = (p: number) => void (pid = p);
    // The marker comes first on stderr; with a pty both streams are the terminal's output.
    const out = tracked && io.tty ? markerFilter(io.stdout, found) : undefined;
    const err = tracked && !io.tty ? markerFilter(io.stderr, found) : undefined;
    const stdout = out ? (d: Uint8Array) => out.write(d) : io.stdout;
    const stderr = err ? (d: Uint8Array) => err.write(d) : io.stderr;
    const command = tracked ? trackedLine(line, execs) : line;
    return new Promise((resolve, reject) => {
      const opts = io.tty ? { pty: { rows: io.tty.rows, cols: io.tty.cols, term: "xterm" } } : {};
      client.exec(command, opts, (e: Error | undefined, ch: ClientChannel) => {
        if (e) return reject(new Error(`ssh ${t.host}: exec: ${e.message}`));
        let code: number | undefined;
        ch.on("data", (d: Uint8Array) => deliver(ch, stdout, d));
        ch.stderr.on("data", (d: Uint8Array) => deliver(ch.stderr, stderr, d));
        if (io.tty && io.resize) {
          (async () => {
            for await (const size of io.resize!) ch.setWindow(size.height, size.width, 0, 0);
          })().catch(() => {});
        }
        ch.on("exit", (c: number | null, signal?: string) => {
          code = c ?? (signal ? 128 + signalNumber(signal) : 255);
        });
        const abort = () => {
          ch.signal("KILL");
          ch.close();
          if (pid !== undefined) {
            run(killTreeScript(pid), false).catch(() => {});
          }
        };
        ch.on("close", async () => {
          io.signal?.removeEventListener("abort", abort);
          await Promise.all([out?.flush(), err?.flush()]).catch(() => {});
          resolve(code ?? 255);
        });
        if (io.signal?.aborted) abort();
        else io.signal?.addEventListener("abort", abort, { once: true });
        feedStdin(ch, io.stdin).catch(() => ch.end());
      });
    });
  }

  return {
    exec: (argv, io) => run(commandLine(argv, io?.env), true, io),
    execLine: (line, io) => run(line, false, io),
    // end() says goodbye; a guest that is already gone never answers, and the socket would
    // linger (FIN-WAIT) with its descriptor: destroy it shortly after in any case.
    close: () => {
      client.end();
      Deno.unrefTimer(setTimeout(() => sock.destroy(), 1_000));
    },
    closed,
  };
}

async function feedStdin(ch: ClientChannel, input: SshIO["stdin"]): Promise<void> {
  if (input === undefined) return void ch.end();
  if (typeof input === "string" || input instanceof Uint8Array) {
    ch.end(input);
    return;
  }
  for await (const chunk of input) {
    if (!ch.write(chunk)) await new Promise((r) => ch.once("drain", r));
  }
  ch.end();
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, TERM: 15 };
const signalNumber = (s: string) => SIGNALS[s.replace(/^SIG/, "")] ?? 1;

/** Retries connecting until the guest answers or `timeoutMs` passes. */
export async function waitForSsh(
  t: SshTarget,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<SshSession> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    if (signal?.aborted) throw signal.reason ?? new Error("aborted");
    try {
      return await connectSsh(t, Math.min(5_000, Math.max(1_000, end - Date.now())));
    } catch (err) {
      last = err;
      // A guest whose sshd is not up yet refuses at once: try again soon.
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(
    `ssh ${t.host}: no answer within ${Math.round(timeoutMs / 1000)} s: ${
      (last as Error)?.message
    }`,
  );
}
