// A work queue of pod keys ("namespace/name") in the style of client-go's rate-limited
// queue: a key is held by at most one worker at a time, a key added while it is being
// worked on is worked on again afterwards, and failures are retried with per-key
// exponential backoff.

import { backoffDelay } from "../util/backoff.ts";

export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export type Handler = (key: string) => Promise<void>;

export interface WorkQueue {
  add(key: string): void;
  /** Adds the key after `ms`, unless it is added sooner. */
  addAfter(key: string, ms: number): void;
  /** Schedules a retry of `key` with backoff; returns the delay. */
  retry(key: string): number;
  /** Clears the retry count of `key` after a success. */
  forget(key: string): void;
  /** Starts `workers` loops calling `handler`; a thrown error means retry. */
  run(
    workers: number,
    handler: Handler,
    onError: (key: string, err: unknown, delayMs: number) => void,
  ): void;
  /** Stops handing out keys; resolves when the workers have finished their current key. */
  shutdown(): Promise<void>;
  readonly length: number;
}

export function createWorkQueue(opts: QueueOptions = {}): WorkQueue {
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 60_000;
  const pending: string[] = [];
  const queued = new Set<string>();
  const active = new Set<string>();
  const dirty = new Set<string>();
  const failures = new Map<string, number>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const waiters: (() => void)[] = [];
  const loops: Promise<void>[] = [];
  let closed = false;

  function wake() {
    const w = waiters.shift();
    if (w) w();
  }

  function add(key: string) {
    if (closed) return;
    const t = timers.get(key);
    if (t !== undefined) {
      clearTimeout(t);
      timers.delete(key);
    }
    if (active.has(key)) {
      dirty.add(key);
      return;
    }
    if (queued.has(key)) return;
    queued.add(key);
    pending.push(key);
    wake();
  }

  function addAfter(key: string, ms: number) {
    if (closed || queued.has(key) || timers.has(key)) return;
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        add(key);
      }, ms),
    );
  }

  async function next(): Promise<string | undefined> {
    while (!closed) {
      const key = pending.shift();
      if (key !== undefined) {
        queued.delete(key);
        return key;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return undefined;
  }

  async function worker(handler: Handler, onError: (k: string, e: unknown, d: number) => void) {
    for (;;) {
      const key = await next();
      if (key === undefined) return;
      active.add(key);
      try {
        await handler(key);
        failures.delete(key);
      } catch (err) {
        onError(key, err, retry(key));
      } finally {
        active.delete(key);
        if (dirty.delete(key)) add(key);
      }
    }
  }

  function retry(key: string): number {
    const n = (failures.get(key) ?? 0) + 1;
    failures.set(key, n);
    const delay = backoffDelay(n, { initialMs: base, maxMs: max });
    addAfter(key, delay);
    return delay;
  }

  return {
    add,
    addAfter,
    retry,
    forget: (key) => void failures.delete(key),
    run(workers, handler, onError) {
      for (let i = 0; i < workers; i++) loops.push(worker(handler, onError));
    },
    async shutdown() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      while (waiters.length) wake();
      await Promise.all(loops);
    },
    get length() {
      return pending.length;
    },
  };
}
