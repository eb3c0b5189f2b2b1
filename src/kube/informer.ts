// A list+watch cache of one kind of object over Deno's fetch (watch.ts), kept up to date by
// our ListWatch (list_watch.ts: immediate re-watch after normal ends, relist after 410 Gone,
// backoff only after failures). Our own because client-node's makeInformer cannot take a
// field selector, and a node must watch only its own pods. This module adds what a watch
// against a real API server needs: a server-side timeout on every watch, and a watchdog for
// a list or watch that hangs without failing.

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../telemetry/log.ts";
import type { BackoffOptions } from "../util/backoff.ts";
import { ListWatch } from "./list_watch.ts";
import type { RestClient } from "./rest.ts";
import { denoWatcher, type Watcher } from "./watch.ts";

export interface Informer<T extends k8s.KubernetesObject> {
  /** Resolves after the first list has been delivered (or when stopped before that). */
  start(): Promise<void>;
  stop(): Promise<void>;
  get(name: string, namespace?: string): T | undefined;
  list(): T[];
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T): void;
  delete?(obj: T): void;
}

export interface WatchdogOptions {
  /** A list or watch that shows no life for this long is abandoned and retried. */
  stuckAfterMs: number;
  /** How often to look. */
  everyMs: number;
}

/**
 * Each watch asks the server to end it after 15-25 s (as client-go asks for 5-10 min): a
 * fresh watch now and then proves the connection alive well inside the watcher's 60 s
 * inactivity limit. A healthy step therefore shows life at least every ~25 s; one silent for
 * 90 s is hung somewhere the watcher's own limit does not reach (a list, the credentials).
 */
const SERVER_TIMEOUT_MIN_S = 15;
const SERVER_TIMEOUT_SPREAD_S = 10;
const DEFAULT_WATCHDOG: WatchdogOptions = { stuckAfterMs: 90_000, everyMs: 10_000 };

export function makeInformer<T extends k8s.KubernetesObject>(
  rest: RestClient,
  opts: {
    path: string;
    list: () => Promise<k8s.KubernetesListObject<T>>;
    fieldSelector?: string;
    log: Logger;
    handlers: InformerHandlers<T>;
    backoff?: BackoffOptions;
    watchdog?: WatchdogOptions;
  },
): Informer<T> {
  const watch = denoWatcher(rest);
  const watcher: Watcher = {
    watch: (path, query, cb, done) => {
      const timeoutSeconds = SERVER_TIMEOUT_MIN_S +
        Math.floor(Math.random() * SERVER_TIMEOUT_SPREAD_S);
      return watch.watch(path, { ...query, timeoutSeconds }, cb, done);
    },
  };
  const lw = new ListWatch<T>(opts.path, watcher, opts.list, opts.fieldSelector, {
    backoff: opts.backoff,
  });
  if (opts.handlers.add) lw.on("add", opts.handlers.add);
  if (opts.handlers.update) lw.on("update", opts.handlers.update);
  if (opts.handlers.delete) lw.on("delete", opts.handlers.delete);
  lw.on("error", (err, retryInMs) => {
    opts.log.warn("list/watch failed; retrying", {
      path: opts.path,
      delayMs: retryInMs,
      error: err,
    });
  });
  lw.on("recovered", (downMs) => {
    opts.log.info("list/watch works again", { path: opts.path, downForMs: downMs });
  });
  const dog = opts.watchdog ?? DEFAULT_WATCHDOG;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  const checkStuck = () => {
    const stalled = lw.stalledMs();
    if (stalled < dog.stuckAfterMs) return;
    opts.log.warn("list/watch stuck; restarting", { path: opts.path, stalledMs: stalled });
    lw.restart(`list/watch showed no life for ${stalled} ms`);
  };
  return {
    async start() {
      // Before the first list: that list may be what hangs.
      watchdog ??= setInterval(checkStuck, dog.everyMs);
      await lw.start();
    },
    async stop() {
      if (watchdog !== undefined) clearInterval(watchdog);
      watchdog = undefined;
      await lw.stop();
    },
    get: (name, namespace) => lw.get(name, namespace),
    list: () => [...lw.list()],
  };
}
