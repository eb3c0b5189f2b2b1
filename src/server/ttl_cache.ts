// A small time-bounded, size-bounded cache for TokenReview and SubjectAccessReview answers,
// with one in-flight lookup per key so a burst of identical requests makes one API call.
// Hand-written: it is ~50 lines, and the npm LRU caches do not share in-flight lookups.

export interface TtlCache<V> {
  /** The cached value for `key`, or the result of `load` (cached for `ttlMs(value)`). */
  get(key: string, load: () => Promise<V>): Promise<V>;
  readonly size: number;
  clear(): void;
}

export interface TtlCacheOptions<V> {
  /** Milliseconds a value stays valid; 0 or less does not cache it. */
  ttlMs: (value: V) => number;
  /** Oldest entries are dropped beyond this many. */
  maxEntries?: number;
  now?: () => number;
}

export function createTtlCache<V>(opts: TtlCacheOptions<V>): TtlCache<V> {
  const max = opts.maxEntries ?? 4096;
  const now = opts.now ?? Date.now;
  const entries = new Map<string, { value: V; expires: number }>();
  const inflight = new Map<string, Promise<V>>();
  return {
    get(key, load) {
      const hit = entries.get(key);
      if (hit) {
        if (hit.expires > now()) return Promise.resolve(hit.value);
        entries.delete(key);
      }
      const pending = inflight.get(key);
      if (pending) return pending;
      const p = load().then((value) => {
        const ttl = opts.ttlMs(value);
        if (ttl > 0) {
          entries.delete(key);
          entries.set(key, { value, expires: now() + ttl });
          while (entries.size > max) entries.delete(entries.keys().next().value!);
        }
        return value;
      }).finally(() => inflight.delete(key));
      inflight.set(key, p);
      return p;
    },
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },
  };
}
