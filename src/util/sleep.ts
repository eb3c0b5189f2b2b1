// Waiting that an abort cuts short: the one helper for every loop that sleeps between tries
// (probes, volume refreshes, watches) and must end at once when its work is stopped. (The
// container lifecycle keeps its own: it waits out the delay when aborted before it starts.)

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
