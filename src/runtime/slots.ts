// VM slots: at most `max` VMs at once (Apple allows two per host). Waiters are served in
// arrival order; a waiter can see how many slots are taken, for its pod's Pending reason.

export interface SlotHolder {
  release(): void;
}

export class VmSlots {
  #used = 0;
  #waiters: { resolve: (h: SlotHolder) => void; reject: (e: unknown) => void }[] = [];

  constructor(readonly max: number) {}

  get used() {
    return this.#used;
  }

  #holder(): SlotHolder {
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#used--;
        const next = this.#waiters.shift();
        if (next) {
          this.#used++;
          next.resolve(this.#holder());
        }
      },
    };
  }

  /** Takes a slot now if one is free; undefined otherwise. */
  tryAcquire(): SlotHolder | undefined {
    if (this.#used >= this.max) return undefined;
    this.#used++;
    return this.#holder();
  }

  /** Waits for a slot; rejects with the signal's reason when aborted while waiting. */
  acquire(signal?: AbortSignal): Promise<SlotHolder> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          reject(signal.reason);
        }
      }, { once: true });
    });
  }
}
