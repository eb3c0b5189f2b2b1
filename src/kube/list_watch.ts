// A list+watch cache of one kind of object that keeps itself up to date the way client-go's
// reflector does: list, then watch from the list's resourceVersion (with bookmarks, so the
// version stays fresh on a quiet watch); when the server ends a watch normally, watch again
// at once from the last version seen; list again only after 410 Gone; back off (capped,
// jittered, reset by a healthy watch) only after failures (watch_end.ts says which ends are
// which). Handlers hear what was added, updated and deleted (object_store.ts).
//
// Replaces a port of client-node's ListWatch, which also waited 1 s doubling to 30 s before
// re-opening a watch the server had ended normally whenever that watch had carried no event,
// so on a quiet node a newly bound pod could be seen up to ~30 s late.

import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from "../util/backoff.ts";
import { ObjectStore } from "./object_store.ts";
import { OPENED, type Watcher } from "./watch.ts";
import { nextAfterWatch, type WatchEnd, type WatchStatus } from "./watch_end.ts";
import { sleepUnlessAborted } from "../util/sleep.ts";

export type ListWatchEvent = "add" | "update" | "delete" | "error" | "recovered";

export interface ListWatchOptions {
  backoff?: BackoffOptions;
  /** A watch closed sooner than this without an event counts as a failure (default 1 s). */
  shortWatchMs?: number;
}

/** How long an aborted watch may take to report that it ended before it is left behind. */
const ABORT_GRACE_MS = 1000;

interface Running {
  /** Aborted by stop(). */
  readonly stop: AbortController;
  /** Resolves after the first successful list, or when stopped. */
  readonly synced: Promise<void>;
  /** Resolves when the loop has ended. */
  done: Promise<void>;
}

export class ListWatch<T extends KubernetesObject> {
  private readonly store: ObjectStore<T>;
  private readonly callbacks: {
    add: ((obj: T) => void)[];
    update: ((obj: T) => void)[];
    delete: ((obj: T) => void)[];
    error: ((err: unknown, retryInMs: number) => void)[];
    recovered: ((downMs: number) => void)[];
  } = { add: [], update: [], delete: [], error: [], recovered: [] };
  /** When the failures in a row began (an outage), until a list or watch works again. */
  private failingSince: number | undefined;
  private readonly backoff: Backoff;
  private readonly shortWatchMs: number;
  private resourceVersion = "";
  private needList = true;
  private running: Running | undefined;
  /** The list or watch under way; aborted by stop() and restart(). */
  private step: AbortController | undefined;
  /** Last sign of life of the step under way (its start, its list, its events). */
  private activityAt = 0;

  constructor(
    private readonly path: string,
    private readonly watcher: Watcher,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    private readonly fieldSelector?: string,
    opts: ListWatchOptions = {},
  ) {
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
    this.shortWatchMs = opts.shortWatchMs ?? 1000;
    const each = (cbs: ((obj: T) => void)[]) => (obj: T) => {
      for (const cb of cbs.slice()) cb(obj);
    };
    this.store = new ObjectStore<T>({
      add: each(this.callbacks.add),
      update: each(this.callbacks.update),
      delete: each(this.callbacks.delete),
    });
  }

  /**
   * Starts the loop if it is not running. Resolves after the first successful list (failed
   * lists are retried with backoff and reported as errors meanwhile), or when stopped first.
   */
  start(): Promise<void> {
    if (!this.running) {
      const stop = new AbortController();
      let synced!: () => void;
      const running: Running = {
        stop,
        synced: new Promise<void>((resolve) => synced = resolve),
        done: Promise.resolve(),
      };
      stop.signal.addEventListener("abort", () => synced(), { once: true });
      running.done = this.run(stop.signal, synced);
      this.running = running;
    }
    return this.running.synced;
  }

  /** Ends the loop; resolves once it has. */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    running.stop.abort();
    await running.done;
  }

  /** Abandons the list or watch under way (one that hangs) as a failure: back off, retry. */
  restart(reason: string): void {
    this.step?.abort(new Error(reason));
  }

  /** Milliseconds since the step under way last showed life; 0 while backing off or stopped. */
  stalledMs(): number {
    return this.step && this.activityAt ? Date.now() - this.activityAt : 0;
  }

  on(event: "add" | "update" | "delete", cb: (obj: T) => void): void;
  on(event: "error", cb: (err: unknown, retryInMs: number) => void): void;
  /** After failures, the first list or watch that works: how long it was down. */
  on(event: "recovered", cb: (downMs: number) => void): void;
  on(event: ListWatchEvent, cb: (arg: never, retryInMs: number) => void): void {
    (this.callbacks[event] as unknown[]).push(cb);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(name, namespace);
  }

  list(): T[] {
    return this.store.list();
  }

  private async run(stop: AbortSignal, synced: () => void): Promise<void> {
    while (!stop.aborted) {
      const step = new AbortController();
      const onStop = () => step.abort(stop.reason);
      stop.addEventListener("abort", onStop, { once: true });
      this.step = step;
      this.activityAt = Date.now();
      let listed = false;
      try {
        if (this.needList) {
          const list = await abortable(this.listFn(), step.signal);
          this.store.replace(list.items ?? []);
          this.resourceVersion = list.metadata?.resourceVersion || "";
          this.needList = false;
          listed = true;
          this.activityAt = Date.now();
          this.recovered();
          synced();
        }
        const end = await this.watchOnce(step.signal);
        if (step.signal.aborted) throw step.signal.reason;
        const next = nextAfterWatch(end, this.shortWatchMs);
        if (next.kind === "rewatch") {
          if (next.healthy) this.backoff.reset();
        } else if (next.kind === "relist") {
          this.needList = true;
          // A version the server just listed is already too old: do not list in a loop.
          if (listed && end.events === 0) await this.failed(next.cause, stop);
        } else {
          await this.failed(next.cause, stop);
        }
      } catch (err) {
        if (!stop.aborted) await this.failed(err, stop);
      } finally {
        stop.removeEventListener("abort", onStop);
        if (this.step === step) this.step = undefined;
      }
    }
  }

  /** Ends an outage: tells how long it lasted. */
  private recovered(): void {
    if (this.failingSince === undefined) return;
    const down = Date.now() - this.failingSince;
    this.failingSince = undefined;
    for (const cb of this.callbacks.recovered.slice()) {
      try {
        cb(down);
      } catch { /* a handler's own failure must not end the loop */ }
    }
  }

  /** Reports `err`, then waits out the next backoff delay (or until stopped). */
  private async failed(err: unknown, stop: AbortSignal): Promise<void> {
    this.failingSince ??= Date.now();
    const delay = this.backoff.next();
    this.step = undefined;
    for (const cb of this.callbacks.error.slice()) {
      try {
        cb(err, delay);
      } catch { /* a handler's own failure must not end the loop */ }
    }
    await sleepUnlessAborted(delay, stop);
  }

  /** One watch from the current resourceVersion, until it ends or `signal` aborts it. */
  private watchOnce(signal: AbortSignal): Promise<WatchEnd> {
    const started = Date.now();
    const query: Record<string, string | boolean> = {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
    };
    if (this.fieldSelector !== undefined) query.fieldSelector = this.fieldSelector;
    return new Promise<WatchEnd>((resolve) => {
      let request: AbortController | undefined;
      let status: WatchStatus | undefined;
      let events = 0;
      let ended = false;
      let grace: ReturnType<typeof setTimeout> | undefined;
      const finish = (err: unknown) => {
        if (ended) return;
        ended = true;
        clearTimeout(grace);
        signal.removeEventListener("abort", onAbort);
        request?.abort();
        resolve({ err, status, events, durationMs: Date.now() - started });
      };
      const onAbort = () => {
        request?.abort();
        grace = setTimeout(() => finish(signal.reason), ABORT_GRACE_MS);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.watcher.watch(this.path, query, (phase, obj) => {
        if (ended || signal.aborted || status) return;
        if (phase === OPENED) {
          this.activityAt = Date.now();
          this.recovered(); // the server answered the watch: an outage, if any, is over
          return;
        }
        if (phase === "ERROR") {
          // The server ends the watch after this; end it here rather than wait.
          status = obj as WatchStatus;
          request?.abort();
          return;
        }
        events++;
        this.activityAt = Date.now();
        this.backoff.reset();
        this.apply(phase, obj as T);
      }, finish).then((c) => {
        request = c;
        if (ended || signal.aborted || status) c.abort();
      }, finish);
    });
  }

  private apply(phase: string, obj: T): void {
    switch (phase) {
      case "ADDED":
      case "MODIFIED":
        this.store.put(obj);
        break;
      case "DELETED":
        this.store.remove(obj);
        break;
      case "BOOKMARK":
        break;
      default:
        return;
    }
    this.resourceVersion = obj.metadata?.resourceVersion || this.resourceVersion;
  }
}

/** `p`, or a rejection with the signal's reason once `signal` aborts. */
function abortable<V>(p: Promise<V>, signal: AbortSignal): Promise<V> {
  p.catch(() => {}); // a request left behind must not become an unhandled rejection
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<V>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
