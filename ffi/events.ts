// The event drain loop of one VM handle: the shim queues state changes and delegate calls on
// its side (it never calls into JS); this loop takes them one by one with nonblocking
// next-event calls that wait at most `pollMs` in the shim, until `done()` says to stop.

import type { VzEvent, VzVmHandle } from "./types.ts";

export async function drainEvents(
  handle: VzVmHandle,
  onEvent: (e: VzEvent) => void,
  done: () => boolean,
  opts: { pollMs?: number; onError?: (err: unknown) => void } = {},
): Promise<void> {
  while (!done()) {
    let e: VzEvent | undefined;
    try {
      e = await handle.nextEvent(opts.pollMs ?? 500);
    } catch (err) {
      opts.onError?.(err);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500)); // not a busy loop
      continue;
    }
    if (e) onEvent(e);
  }
}
