// An inactivity timer: fires `onIdle` once nothing called `touch()` for `ms` milliseconds.
// One timeout at a time, re-armed lazily, so touching on every frame costs one assignment.

export class IdleTimer {
  private last = Date.now();
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly ms: number, private readonly onIdle: (idleMs: number) => void) {
    if (ms > 0) this.arm(ms);
  }

  touch(): void {
    this.last = Date.now();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delay: number): void {
    this.timer = setTimeout(() => {
      const idle = Date.now() - this.last;
      if (idle >= this.ms) this.onIdle(idle);
      else this.arm(this.ms - idle);
    }, delay);
  }
}
