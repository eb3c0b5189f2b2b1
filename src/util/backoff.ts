// The one exponential backoff of the code base: a delay that doubles from `initialMs` per
// attempt up to `maxMs`, optionally jittered so clients that failed together do not retry
// together. `backoffDelay` is the pure formula; `Backoff` keeps the attempt count for a retry
// loop and starts over after a success. No timers here: callers do the waiting.

export interface BackoffOptions {
  /** Nominal delay of the first attempt. */
  initialMs: number;
  /** The nominal delay never grows past this. */
  maxMs: number;
  /**
   * How much of the nominal delay is random: 0 (the default) none; 0.5 draws from the upper
   * half [nominal/2, nominal]; 0.25 draws from [0.75, 1.25] x nominal (still capped).
   */
  jitter?: number;
  /** Uniform in [0, 1]; tests pass a constant. */
  random?: () => number;
}

/**
 * Watches of the API server: capped at 5 s, so an agent notices within seconds that the API
 * server is back after an outage (a 30 s cap made it 35-65 s).
 */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 800, maxMs: 5_000, jitter: 0.5 };

/**
 * The delay before attempt `attempt` (1 = the first retry): initialMs x 2^(attempt-1), capped
 * at maxMs, then jittered. A jitter of 0.5 only ever shortens the delay (upper half); other
 * jitters spread it both ways around the nominal delay.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const exp = Math.min(Math.max(attempt, 1) - 1, 52);
  const nominal = Math.min(opts.initialMs * 2 ** exp, opts.maxMs);
  const jitter = opts.jitter ?? 0;
  if (!jitter) return nominal;
  const r = (opts.random ?? Math.random)();
  if (jitter === 0.5) return Math.round(nominal / 2 + (nominal / 2) * r);
  return Math.round(Math.min(opts.maxMs, nominal * (1 - jitter + 2 * jitter * r)));
}

/** Attempt counting around backoffDelay for a retry loop. */
export class Backoff {
  private failures = 0;

  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {}

  /** Records one more failure and returns how long to wait before the next attempt. */
  next(): number {
    this.failures = Math.min(this.failures + 1, 53);
    return backoffDelay(this.failures, this.opts);
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
