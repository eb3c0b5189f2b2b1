// One agent per cache directory and per VM bridge on a host: an exclusive lock (flock, so
// the kernel drops it when the process dies) on a file that names its holder. A second agent
// with the same settings would otherwise take the first one's VMs for leftovers and remove
// them; it now refuses to start, naming the holder and the options that tell agents apart.

import { posix } from "node:path";

export interface HeldLock {
  release(): void;
}

export class LockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LockedError";
  }
}

/**
 * Takes the lock at `path` for `holder` (a line saying who holds it); throws LockedError
 * with `what` and the current holder when another process (or agent) has it.
 */
export async function lockExclusive(path: string, holder: string, what: string): Promise<HeldLock> {
  await Deno.mkdir(posix.dirname(path), { recursive: true });
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    const current = (await Deno.readTextFile(path).catch(() => "")).trim() || "another process";
    file.close();
    throw new LockedError(`${what} is in use by ${current}`);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${holder}\n`));
  return {
    release() {
      try {
        file.close(); // closing drops the lock
      } catch { /* closed */ }
    },
  };
}
