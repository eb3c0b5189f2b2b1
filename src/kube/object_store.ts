// The objects a list+watch cache holds, by namespace and name, and the add/update/delete
// notifications that changing them produces. No I/O: list_watch.ts feeds it lists and watch
// events.

import type { KubernetesObject } from "@kubernetes/client-node";

export interface StoreHandlers<T> {
  add(obj: T): void;
  update(obj: T): void;
  delete(obj: T): void;
}

const nsOf = (obj: KubernetesObject): string => obj.metadata?.namespace || "";
const nameOf = (obj: KubernetesObject): string => obj.metadata?.name || "";

export class ObjectStore<T extends KubernetesObject> {
  private readonly objects = new Map<string, Map<string, T>>();

  constructor(private readonly on: StoreHandlers<T>) {}

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace || "")?.get(name);
  }

  list(): T[] {
    const all: T[] = [];
    for (const ns of this.objects.values()) all.push(...ns.values());
    return all;
  }

  /** After a list: objects missing from it are deleted, the rest added or updated. */
  replace(items: T[]): void {
    const fresh = new Set(items.map((o) => `${nsOf(o)}\x00${nameOf(o)}`));
    for (const [ns, objects] of this.objects) {
      for (const [name, old] of objects) {
        if (fresh.has(`${ns}\x00${name}`)) continue;
        objects.delete(name);
        this.on.delete(old);
      }
      if (objects.size === 0) this.objects.delete(ns);
    }
    for (const obj of items) this.put(obj);
  }

  /** Adds or updates; an object at the resourceVersion already held changes nothing. */
  put(obj: T): void {
    const ns = nsOf(obj);
    let objects = this.objects.get(ns);
    if (!objects) this.objects.set(ns, objects = new Map());
    const found = objects.get(nameOf(obj));
    if (!found) {
      objects.set(nameOf(obj), obj);
      this.on.add(obj);
    } else if (!sameVersion(found, obj)) {
      objects.set(nameOf(obj), obj);
      this.on.update(obj);
    }
  }

  remove(obj: T): void {
    const objects = this.objects.get(nsOf(obj));
    if (!objects?.delete(nameOf(obj))) return;
    this.on.delete(obj);
    if (objects.size === 0) this.objects.delete(nsOf(obj));
  }
}

function sameVersion(a: KubernetesObject, b: KubernetesObject): boolean {
  const v = a.metadata?.resourceVersion;
  return v !== undefined && v !== null && v === b.metadata?.resourceVersion;
}
