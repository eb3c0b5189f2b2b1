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

  #start(key: string, work: (flight: Flight<P>) => Promise<T>): Entry<T, P> {
    const controller = new AbortController();
    const listeners = new Set<(p: P) => void>();
    this.started++;
    const entry: Entry<T, P> = {
      listeners,
      callers: 0,
      controller,
      // Started on the next microtask, so the first caller's listener is in place.
      promise: Promise.resolve().then(() =>
        work({
          signal: controller.signal,
          emit: (p) => {
            for (const l of listeners) l(p);
          },
        })
      ),
    };
    const forget = () => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    };
    entry.promise.then(forget, forget);
    this.#entries.set(key, entry);
    return entry;
  }

  run(
    key: string,
    work: (flight: Flight<P>) => Promise<T>,
    opts: { signal?: AbortSignal; onProgress?: (p: P) => void } = {},
  ): Promise<T> {
    opts.signal?.throwIfAborted();
    const e = this.#entries.get(key) ?? this.#start(key, work);
    e.callers++;
    if (opts.onProgress) e.listeners.add(opts.onProgress);
    const unlisten = () => {
      if (opts.onProgress) e.listeners.delete(opts.onProgress);
    };
    const signal = opts.signal;
    if (!signal) return e.promise.finally(unlisten);
    return new Promise<T>((resolve, reject) => {
      let left = false;
      const onAbort = () => {
        left = true;
        unlisten();
        const reason = signal.reason ?? new DOMException("aborted", "AbortError");
        e.callers--;
        if (e.callers > 0) return reject(reason);
        // Last caller out: abort the work, let newcomers start afresh, and return only once
        // the aborted work has finished cleaning up.
        if (this.#entries.get(key) === e) this.#entries.delete(key);
        e.controller.abort(reason);
        e.promise.then(() => reject(reason), () => reject(reason));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      e.promise.then(
        (v) => left || resolve(v),
        (err) => left || reject(err),
      ).finally(() => {
        signal.removeEventListener("abort", onAbort);
        unlisten();
      });
    });
  }
}
