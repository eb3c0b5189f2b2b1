// Exponential backoff with a cap and jitter, for retrying requests to the API server after
// failures: each failure doubles the nominal delay up to the cap, each wait is drawn from the
// upper half of the nominal delay (so clients that failed together do not retry together),
// and a success resets it. Pure state, no timers: callers do the waiting.

export interface BackoffOptions {
  /** Nominal delay after the first failure. */
  initialMs: number;
  /** The nominal delay never grows past this. */
  maxMs: number;
  /** Uniform in [0, 1]: 0 waits half the nominal delay, 1 all of it; tests pass a constant. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 800, maxMs: 30_000 };

export class Backoff {
  private failures = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {
    this.random = opts.random ?? Math.random;
  }

  /** Records one more failure and returns how long to wait before the next attempt. */
  next(): number {
    const nominal = Math.min(this.opts.initialMs * 2 ** this.failures, this.opts.maxMs);
    this.failures = Math.min(this.failures + 1, 52);
    return Math.round(nominal / 2 + (nominal / 2) * this.random());
  }

  /** After a success: the next failure waits the initial delay again. */
  reset(): void {
    this.failures = 0;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.failures;
  }
}
