// One operation per key at a time, shared by every caller asking for it meanwhile: the
// second pod waiting for an image joins the first pod's download instead of starting its
// own. Progress reaches every caller; the shared work is aborted only when every caller
// has given up (each caller's own signal only detaches that caller).

export interface Flight<P> {
  signal: AbortSignal;
  emit(progress: P): void;
}

interface Entry<T, P> {
  promise: Promise<T>;
  listeners: Set<(p: P) => void>;
  callers: number;
  controller: AbortController;
}

export class SingleFlight<T, P = never> {
  #entries = new Map<string, Entry<T, P>>();
  /** How many times work actually started (tests read this). */
  started = 0;

  /** True while work for `key` is running. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  run(
    key: string,
    work: (flight: Flight<P>) => Promise<T>,
    opts: { signal?: AbortSignal; onProgress?: (p: P) => void } = {},
  ): Promise<T> {
    let entry = this.#entries.get(key);
    if (!entry) {
      const controller = new AbortController();
      const listeners = new Set<(p: P) => void>();
      const fresh: Entry<T, P> = {
        listeners,
        callers: 0,
        controller,
        promise: Promise.resolve(),
      } as unknown as Entry<T, P>;
      this.started++;
      fresh.promise = (async () => {
        try {
          return await work({
            signal: controller.signal,
            emit: (p) => {
              for (const l of listeners) l(p);
            },
          });
        } finally {
          this.#entries.delete(key);
        }
      })();
      entry = fresh;
      this.#entries.set(key, entry);
    }
    const e = entry;
    e.callers++;
    if (opts.onProgress) e.listeners.add(opts.onProgress);
    const detach = () => {
      if (opts.onProgress) e.listeners.delete(opts.onProgress);
      e.callers--;
      if (e.callers === 0) {
        e.controller.abort(new DOMException("every caller gave up", "AbortError"));
      }
    };
    if (!opts.signal) {
      return e.promise.finally(() => {
        if (opts.onProgress) e.listeners.delete(opts.onProgress);
      });
    }
    const signal = opts.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        detach();
        reject(signal.reason ?? new DOMException("aborted", "AbortError"));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      e.promise.then(resolve, reject).finally(() => {
        signal.removeEventListener("abort", onAbort);
        if (opts.onProgress) e.listeners.delete(opts.onProgress);
      });
    });
  }
}
