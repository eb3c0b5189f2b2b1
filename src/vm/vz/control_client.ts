// The agent's end of a VM helper's control socket: requests with replies, the helper's state
// pushes, and `closed` when the socket goes away (the helper exited, or was killed).

import {
  encodeLine,
  HelperError,
  type HelperErrorCode,
  type HelperMessage,
  type HelperOp,
  type HelperStatus,
  jsonLines,
} from "./protocol.ts";

export interface HelperClient {
  request(op: HelperOp, timeoutMs?: number): Promise<HelperStatus>;
  onStatus(fn: (s: HelperStatus) => void): void;
  /** The last status the helper sent (reply or push). */
  readonly last?: HelperStatus;
  /** Resolves when the connection ends. */
  readonly closed: Promise<void>;
  close(): void;
}

/** Connects once; throws when nothing listens there. */
export async function connectHelper(socketPath: string): Promise<HelperClient> {
  const conn = await Deno.connect({ transport: "unix", path: socketPath });
  const writer = conn.writable.getWriter();
  const pending = new Map<
    number,
    { resolve: (s: HelperStatus) => void; reject: (e: Error) => void }
  >();
  const listeners: ((s: HelperStatus) => void)[] = [];
  let last: HelperStatus | undefined;
  let nextId = 1;
  let ended = false;

  const seen = (s: HelperStatus) => {
    last = s;
    for (const l of listeners) l(s);
  };

  const closed = (async () => {
    try {
      for await (const v of jsonLines(conn.readable)) {
        const msg = v as HelperMessage | undefined;
        if (!msg || typeof msg !== "object") continue;
        if ("event" in msg) {
          seen(msg.status);
        } else if ("reply" in msg) {
          const p = pending.get(msg.reply);
          pending.delete(msg.reply);
          if (msg.ok) {
            seen(msg.status);
            p?.resolve(msg.status);
          } else p?.reject(new HelperError(msg.error, msg.code as HelperErrorCode));
        }
      }
    } catch { /* reset: treated as closed */ }
    ended = true;
    for (const p of pending.values()) {
      p.reject(new HelperError("the VM helper closed the connection", "failed"));
    }
    pending.clear();
    try {
      conn.close();
    } catch { /* closed */ }
  })();

  return {
    async request(op: HelperOp, timeoutMs = 600_000): Promise<HelperStatus> {
      if (ended) throw new HelperError(`${op}: the VM helper is gone`, "failed");
      const id = nextId++;
      const reply = new Promise<HelperStatus>((resolve, reject) =>
        pending.set(id, { resolve, reject })
      );
      await writer.write(encodeLine({ id, op })).catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          pending.delete(id);
          reject(
            new HelperError(`${op}: no answer from the VM helper in ${timeoutMs} ms`, "failed"),
          );
        }, timeoutMs);
      });
      try {
        return await Promise.race([reply, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    onStatus: (fn) => void listeners.push(fn),
    get last() {
      return last;
    },
    closed,
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/** Connects, retrying while the helper is starting up, until `timeoutMs` or `gaveUp()`. */
export async function connectHelperWhenUp(
  socketPath: string,
  timeoutMs: number,
  gaveUp: () => boolean | Promise<boolean> = () => false,
): Promise<HelperClient> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connectHelper(socketPath);
    } catch (err) {
      if (Date.now() > end || await gaveUp()) {
        throw new Error(`cannot reach the VM helper at ${socketPath}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
