// The lifetime of one streaming session (exec, attach or port-forward, over SPDY or
// WebSocket): a signal that aborts when the server closes or the session ends, and the
// session's place in the open-sessions gauge while it lasts.

import type { ServerContext } from "../context.ts";

export interface SessionLifetime {
  /** Aborted when the server closes, or by end() / abort(). */
  readonly signal: AbortSignal;
  /** The session's connection is over: everything running for it should stop. */
  abort(): void;
  /** Leaves the gauge and the server's close signal; call once, in a finally. */
  end(): void;
}

/** Starts counting a session of `kind`, ended when the server closes or `closed` settles. */
export function sessionLifetime(
  ctx: ServerContext,
  kind: string,
  closed?: Promise<unknown>,
): SessionLifetime {
  const controller = new AbortController();
  const abort = () => controller.abort();
  ctx.closing.addEventListener("abort", abort, { once: true });
  void closed?.then(abort, abort);
  ctx.metrics.session(kind, 1);
  return {
    signal: controller.signal,
    abort,
    end() {
      ctx.metrics.session(kind, -1);
      ctx.closing.removeEventListener("abort", abort);
    },
  };
}
