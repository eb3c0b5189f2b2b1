// A QMP (QEMU Machine Protocol) client over the VM's unix socket: capability negotiation,
// commands with replies, and events (SHUTDOWN, STOP, ...). Line-delimited JSON; the
// protocol is small enough that no library is needed (none on npm is maintained).

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

export interface QmpClient {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
  onEvent(fn: (e: QmpEvent) => void): void;
  /** Resolves when the socket closes (QEMU exited or closed it). */
  readonly closed: Promise<void>;
  close(): void;
}

export async function connectQmp(socketPath: string, timeoutMs = 10_000): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  let conn: Deno.UnixConn | undefined;
  for (;;) {
    try {
      conn = await Deno.connect({ transport: "unix", path: socketPath });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`QMP ${socketPath}: cannot connect: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const c = conn;
  const encoder = new TextEncoder();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners: ((e: QmpEvent) => void)[] = [];
  let nextId = 1;
  let greeted: (() => void) | undefined;
  const greeting = new Promise<void>((r) => greeted = r);
  let isClosed = false;

  const closed = (async () => {
    let buf = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of c.readable) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) dispatch(JSON.parse(line));
        }
      }
    } catch { /* connection reset: treated as closed */ }
    isClosed = true;
    for (const p of pending.values()) p.reject(new Error("QMP connection closed"));
    pending.clear();
  })();

  function dispatch(msg: Record<string, unknown>) {
    if ("QMP" in msg) return greeted?.();
    if ("event" in msg) {
      for (const l of listeners) l(msg as unknown as QmpEvent);
      return;
    }
    const id = msg.id as number;
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if ("error" in msg) {
      const e = msg.error as { class?: string; desc?: string };
      p.reject(new Error(`QMP: ${e.class}: ${e.desc}`));
    } else p.resolve(msg.return);
  }

  async function execute<T>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (isClosed) throw new Error(`QMP ${command}: connection closed`);
    const id = nextId++;
    const reply = new Promise<T>((resolve, reject) =>
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
    const body = JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id });
    const writer = c.writable.getWriter();
    try {
      await writer.write(encoder.encode(body + "\n"));
    } finally {
      writer.releaseLock();
    }
    return await reply;
  }

  await Promise.race([
    greeting,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`QMP ${socketPath}: no greeting`)), timeoutMs)
    ),
  ]);
  await execute("qmp_capabilities");
  return {
    execute,
    onEvent: (fn) => void listeners.push(fn),
    closed,
    close() {
      try {
        c.close();
      } catch { /* already closed */ }
    },
  };
}
