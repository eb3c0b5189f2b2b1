// How one watch ended, and what a list+watch loop does next (the rules of client-go's
// reflector): a watch the server ends normally is opened again at once from the last
// resourceVersion; 410 Gone / Expired means that version is compacted away, so list again;
// anything else (connection refused, HTTP 5xx or 4xx, an ERROR event, a watch closed within a
// second with nothing in it) is a failure to back off from. Pure: list_watch.ts does the I/O.

/** A metav1.Status, as an ERROR watch event carries it. */
export interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

export interface WatchEnd {
  /** What the watcher's `done` said: null after a clean end of the stream. */
  err: unknown;
  /** The ERROR event that ended the watch, if one did. */
  status?: WatchStatus;
  /** ADDED, MODIFIED, DELETED and BOOKMARK events received. */
  events: number;
  durationMs: number;
}

export type WatchNext =
  /** Ended normally: watch again at once from the last resourceVersion. */
  | { kind: "rewatch"; healthy: boolean }
  /** The resourceVersion is too old: list again. */
  | { kind: "relist"; cause: Error }
  /** Back off, then watch again from the last resourceVersion. */
  | { kind: "backoff"; cause: Error };

/** 410 Gone or reason Expired/Gone, on an ERROR event's Status or an HTTP error. */
export function isGone(x: unknown): boolean {
  if (!x || typeof x !== "object") return false;
  const e = x as { code?: unknown; statusCode?: unknown; reason?: unknown };
  return e.code === 410 || e.statusCode === 410 || e.reason === "Expired" || e.reason === "Gone";
}

/**
 * `shortMs`: a watch the server closes sooner than this without sending anything is a failure
 * (client-go's "very short watch"), so a server that closes every watch at once is not
 * hammered in a loop.
 */
export function nextAfterWatch(end: WatchEnd, shortMs: number): WatchNext {
  if (end.status) {
    const cause = Object.assign(
      new Error(`watch: ${end.status.message ?? end.status.reason ?? "ERROR event"}`),
      { code: end.status.code, reason: end.status.reason },
    );
    return isGone(end.status) ? { kind: "relist", cause } : { kind: "backoff", cause };
  }
  if (end.err) {
    const cause = end.err instanceof Error ? end.err : new Error(String(end.err));
    if (isGone(end.err)) return { kind: "relist", cause };
    // The watcher's own inactivity limit: the whole limit was already waited out.
    if (cause.name === "TimeoutError") return { kind: "rewatch", healthy: false };
    return { kind: "backoff", cause };
  }
  if (end.events === 0 && end.durationMs < shortMs) {
    return {
      kind: "backoff",
      cause: new Error(`watch closed after ${end.durationMs} ms without an event`),
    };
  }
  return { kind: "rewatch", healthy: true };
}
