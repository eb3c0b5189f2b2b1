// Attach to a VM container: the VM's main process I/O is its serial console. When the backend
// serves the console on a socket (qemu), one connection to it is shared by every attached
// caller: what the guest writes goes to each of them, what any of them types goes to the
// guest. Without a socket (vz; a VM started before consoles were served both ways) attach is
// read-only: it follows the console log from now on and says that input is not taken.
// Hand-written fan-out: a few callers at most, and the socket must be drained while anyone is
// attached or the guest's console would stall.

import { consoleLogStream } from "./console_logs.ts";
import type { ExecIO } from "./types.ts";

export interface ConsoleTarget {
  /** The console socket of the running VM, if its backend serves one. */
  socketPath(): string | undefined;
  /** The console log the backend appends to. */
  logPath: string;
  /** The arrival-time index beside the log. */
  indexPath: string;
  /** Aborted when the VM's run ends: every attach ends with it. */
  ended: AbortSignal;
}

interface Attached {
  write(chunk: Uint8Array): Promise<void>;
  end(): void;
}

/** One shared connection to a console socket, open while someone is attached. */
interface Hub {
  conn: Deno.UnixConn;
  attached: Set<Attached>;
}

export const READ_ONLY_NOTICE = "this VM's console takes no input here: attach is read-only " +
  "(use kubectl exec for a shell)\n";

export function createVmConsole() {
  const hubs = new Map<string, Hub>();
  /** Connections being opened: callers attaching at once share one (QEMU serves one client). */
  const opening = new Map<string, Promise<Hub>>();

  function hubFor(path: string): Promise<Hub> {
    const existing = hubs.get(path);
    if (existing) return Promise.resolve(existing);
    let pending = opening.get(path);
    if (!pending) {
      pending = openHub(path).finally(() => opening.delete(path));
      opening.set(path, pending);
    }
    return pending;
  }

  async function openHub(path: string): Promise<Hub> {
    const conn = await Deno.connect({ transport: "unix", path });
    const hub: Hub = { conn, attached: new Set() };
    hubs.set(path, hub);
    void (async () => {
      try {
        for await (const chunk of conn.readable) {
          await Promise.all([...hub.attached].map((a) => a.write(chunk).catch(() => a.end())));
        }
      } catch {
        // the VM went away: everyone attached ends below
      }
      if (hubs.get(path) === hub) hubs.delete(path);
      for (const a of hub.attached) a.end();
    })();
    return hub;
  }

  function leave(path: string, hub: Hub, a: Attached) {
    hub.attached.delete(a);
    if (hub.attached.size > 0 || hubs.get(path) !== hub) return;
    hubs.delete(path);
    try {
      hub.conn.close();
    } catch {
      // already closed by the other side
    }
  }

  /** Attaches `io` to the console until the caller leaves or the run ends. */
  async function attach(target: ConsoleTarget, io: ExecIO): Promise<void> {
    if (target.ended.aborted) return;
    const out = io.stdout?.getWriter();
    const path = target.socketPath();
    let finished!: () => void;
    const done = new Promise<void>((r) => finished = r);
    const onEnd = () => finished();
    target.ended.addEventListener("abort", onEnd, { once: true });
    io.signal?.addEventListener("abort", onEnd, { once: true });
    try {
      if (path) {
        const hub = await hubFor(path);
        const me: Attached = { write: (c) => out ? out.write(c) : Promise.resolve(), end: onEnd };
        hub.attached.add(me);
        const input = io.stdin ? pipeInput(io.stdin, hub.conn) : undefined;
        await done;
        leave(path, hub, me);
        await input?.cancel();
      } else {
        await readOnly(target, io, out, done);
      }
    } finally {
      target.ended.removeEventListener("abort", onEnd);
      io.signal?.removeEventListener("abort", onEnd);
      out?.releaseLock();
    }
  }

  return {
    attach,
    /** Closes every console connection (the agent stops). */
    close() {
      for (const hub of hubs.values()) {
        try {
          hub.conn.close();
        } catch {
          // already closed
        }
      }
      hubs.clear();
    },
  };
}

/** Copies what the caller types to the console; cancel() stops it. */
function pipeInput(stdin: ReadableStream<Uint8Array>, conn: Deno.UnixConn) {
  const reader = stdin.getReader();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        await conn.write(value);
      }
    } catch {
      // the caller or the console went away
    }
  })();
  return { cancel: () => reader.cancel().catch(() => {}) };
}

async function readOnly(
  target: ConsoleTarget,
  io: ExecIO,
  out: WritableStreamDefaultWriter<Uint8Array> | undefined,
  done: Promise<void>,
): Promise<void> {
  if (io.stdin && io.stderr) {
    const err = io.stderr.getWriter();
    await err.write(new TextEncoder().encode(READ_ONLY_NOTICE)).catch(() => {});
    err.releaseLock();
  }
  void io.stdin?.cancel().catch(() => {});
  const stop = new AbortController();
  void done.then(() => stop.abort());
  const log = consoleLogStream(
    { log: target.logPath, index: target.indexPath, ended: target.ended },
    { follow: true, tailLines: 0, signal: stop.signal },
  );
  const reader = log.getReader();
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (out) await out.write(value);
    }
  })().catch(() => {});
  await Promise.race([done, pump]);
  stop.abort();
  await reader.cancel().catch(() => {});
}
