// A list+watch cache of one kind of object, restarted with backoff when its watch fails and
// when it is stuck. Built on our ListWatch (list_watch.ts, which handles 410 Gone relists):
// client-node's makeInformer cannot take a field selector, and a node must watch only its
// own pods; the watch requests themselves go through Deno's fetch (watch.ts).

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../telemetry/log.ts";
import { ListWatch } from "./list_watch.ts";
import type { RestClient } from "./rest.ts";
import { denoWatcher, type Watcher } from "./watch.ts";

export interface Informer<T extends k8s.KubernetesObject> {
  /** Resolves after the first list has been delivered. */
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

export function makeInformer<T extends k8s.KubernetesObject>(
  rest: RestClient,
  opts: {
    path: string;
    list: () => Promise<k8s.KubernetesListObject<T>>;
    fieldSelector?: string;
    log: Logger;
    handlers: InformerHandlers<T>;
  },
): Informer<T> {
  // Ask the server to end each watch after 15-25 s: a fresh watch now and then proves the
  // connection alive well before the watcher's own inactivity limit would.
  const watch = denoWatcher(rest);
  const serverTimeout = () => 15 + Math.floor(Math.random() * 10);
  const watcher: Watcher = {
    watch: (path, query, cb, done) => {
      lastConnect = Date.now();
      return watch.watch(path, { ...query, timeoutSeconds: serverTimeout() }, cb, done);
    },
  };
  let lastConnect = Date.now();
  const lw = new ListWatch<T>(opts.path, watcher, opts.list, opts.fieldSelector);
  let stopped = false;
  let failures = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;
  if (opts.handlers.add) lw.on("add", opts.handlers.add);
  if (opts.handlers.update) lw.on("update", opts.handlers.update);
  if (opts.handlers.delete) lw.on("delete", opts.handlers.delete);
  lw.on("connect", () => {
    failures = 0;
  });
  lw.on("error", (err) => {
    if (stopped) return;
    failures++;
    const delay = Math.min(500 * 2 ** failures, 30_000);
    opts.log.warn("watch failed; restarting", { path: opts.path, delayMs: delay, error: err });
    retry = setTimeout(() => {
      retry = undefined;
      if (!stopped) lw.start().catch(() => {});
    }, delay);
  });
  // Watchdog: a watch that neither ended nor reconnected for a minute is stuck; restart it.
  let watchdog: ReturnType<typeof setInterval> | undefined;
  const checkStuck = () => {
    if (stopped || retry !== undefined || Date.now() - lastConnect < 60_000) return;
    opts.log.warn("watch stuck; restarting", { path: opts.path });
    lastConnect = Date.now();
    lw.stop().then(() => stopped ? undefined : lw.start()).catch(() => {});
  };
  return {
    async start() {
      stopped = false;
      await lw.start();
      watchdog ??= setInterval(checkStuck, 10_000);
    },
    async stop() {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      if (watchdog !== undefined) clearInterval(watchdog);
      watchdog = undefined;
      await lw.stop();
    },
    get: (name, namespace) => lw.get(name, namespace),
    list: () => [...lw.list()],
  };
}
