// Waiting that an abort cuts short: the one helper for every loop that sleeps between tries
// (container restarts and back-offs, probes, volume refreshes, watches) and must end at once
// when its work is stopped, including when it was stopped before the sleep began.

/** Resolves after `ms`, or at once when `signal` is (or becomes) aborted. Never rejects. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
