// A list+watch cache of one kind of object (a reflector): lists, then watches from the list's
// resourceVersion, keeps the objects by namespace and name, and tells handlers what was
// added, updated and deleted. A port of client-node 2.0.1's ListWatch (cache.js), with the
// same reconnect rules (relist after 410 Gone, reconnect at once after a client-side
// timeout, back off 1 s doubling to 30 s between idle reconnects); ported, not imported,
// because that module loads client-node's ObjectSerializer and with it every generated
// model of the API (most of an idle agent's memory) only to turn a selector into a string.

import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { Watcher } from "./watch.ts";

export type ListWatchEvent = "add" | "update" | "delete" | "error" | "connect";

const BASE_RECONNECT_DELAY_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 30_000;

type Store<T> = Map<string, Map<string, T>>;

const nsOf = (obj: KubernetesObject) => obj.metadata?.namespace || "";
const nameOf = (obj: KubernetesObject) => obj.metadata?.name || "";

export class ListWatch<T extends KubernetesObject> {
  private objects: Store<T> = new Map();
  private readonly callbacks: Record<ListWatchEvent, ((arg: never) => void)[]> = {
    add: [],
    update: [],
    delete: [],
    error: [],
    connect: [],
  };
  private resourceVersion = "";
  private stopped = false;
  private reconnectDelayMs = 0;
  private hasConnected = false;
  private request: AbortController | undefined;

  constructor(
    private readonly path: string,
    private readonly watcher: Watcher,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    private readonly fieldSelector?: string,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.reconnectDelayMs = 0;
    this.hasConnected = false;
    await this.doneHandler(null);
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.abortRequest();
    return Promise.resolve();
  }

  on(event: "add" | "update" | "delete", cb: (obj: T) => void): void;
  on(event: "error", cb: (err: unknown) => void): void;
  on(event: "connect", cb: () => void): void;
  on(event: ListWatchEvent, cb: (arg: never) => void): void {
    this.callbacks[event].push(cb);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace || "")?.get(name);
  }

  list(): T[] {
    const all: T[] = [];
    for (const ns of this.objects.values()) all.push(...ns.values());
    return all;
  }

  private emit(event: ListWatchEvent, arg?: unknown): void {
    for (const cb of this.callbacks[event].slice()) (cb as (a: unknown) => void)(arg);
  }

  private abortRequest(): void {
    this.request?.abort();
    this.request = undefined;
  }

  private async doneHandler(err: unknown): Promise<void> {
    this.abortRequest();
    const e = err as { statusCode?: number; code?: number; name?: string } | null;
    if (e && (e.statusCode === 410 || e.code === 410)) {
      this.resourceVersion = "";
    } else if (e && e.name === "TimeoutError") {
      // A client-side timeout already waited the whole inactivity limit: reconnect at once.
      this.reconnectDelayMs = 0;
    } else if (err) {
      this.emit("error", err);
      return;
    }
    if (this.stopped) return;
    this.emit("connect");
    if (!this.resourceVersion) {
      let list: KubernetesListObject<T>;
      try {
        list = await this.listFn();
      } catch (listErr) {
        this.emit("error", listErr);
        return;
      }
      this.replaceAll(list.items ?? []);
      this.resourceVersion = list.metadata?.resourceVersion || "";
    }
    const query: Record<string, string> = { resourceVersion: this.resourceVersion };
    if (this.fieldSelector !== undefined) query.fieldSelector = this.fieldSelector;
    if (this.reconnectDelayMs > 0 && this.hasConnected) {
      await new Promise((r) => setTimeout(r, this.reconnectDelayMs));
    }
    if (this.hasConnected) {
      this.reconnectDelayMs = Math.min(
        this.reconnectDelayMs > 0 ? this.reconnectDelayMs * 2 : BASE_RECONNECT_DELAY_MS,
        MAX_RECONNECT_DELAY_MS,
      );
    }
    this.hasConnected = true;
    this.request = await this.watcher.watch(
      this.path,
      query,
      (phase, obj) => this.onEvent(phase, obj as T & { code?: number }),
      (doneErr) => this.doneHandler(doneErr),
    );
  }

  private onEvent(phase: string, obj: T & { code?: number }): void {
    switch (phase) {
      case "ERROR":
        // The watch ends after this; 410 Gone means the next connect must list again.
        if (obj.code === 410) this.resourceVersion = "";
        return;
      case "ADDED":
      case "MODIFIED":
        this.addOrUpdate(obj);
        break;
      case "DELETED":
        this.remove(obj);
        break;
      case "BOOKMARK":
        break;
    }
    this.reconnectDelayMs = 0;
    this.resourceVersion = obj.metadata?.resourceVersion || "";
  }

  /** After a list: objects missing from it are deleted, the rest added or updated. */
  private replaceAll(items: T[]): void {
    const fresh = new Set(items.map((o) => `${nsOf(o)}\x00${nameOf(o)}`));
    for (const [ns, objects] of this.objects) {
      for (const [name, old] of objects) {
        if (fresh.has(`${ns}\x00${name}`)) continue;
        objects.delete(name);
        this.emit("delete", old);
      }
      if (objects.size === 0) this.objects.delete(ns);
    }
    for (const obj of items) this.addOrUpdate(obj);
  }

  private addOrUpdate(obj: T): void {
    const ns = nsOf(obj);
    let objects = this.objects.get(ns);
    if (!objects) this.objects.set(ns, objects = new Map());
    const found = objects.get(nameOf(obj));
    if (!found) {
      objects.set(nameOf(obj), obj);
      this.emit("add", obj);
    } else if (!sameVersion(found, obj)) {
      objects.set(nameOf(obj), obj);
      this.emit("update", obj);
    }
  }

  private remove(obj: T): void {
    const objects = this.objects.get(nsOf(obj));
    if (!objects?.delete(nameOf(obj))) return;
    this.emit("delete", obj);
    if (objects.size === 0) this.objects.delete(nsOf(obj));
  }
}

function sameVersion(a: KubernetesObject, b: KubernetesObject): boolean {
  const v = a.metadata?.resourceVersion;
  return v !== undefined && v !== null && v === b.metadata?.resourceVersion;
}
