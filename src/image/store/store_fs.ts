// File-system primitives of the content store: atomic writes (temp file, fsync, rename),
// temp files named after their owning process so a later run can sweep what a killed one
// left, cross-process exclusive locks (flock through Deno.FsFile.lock), and verification
// records that let a stat, not a rehash, prove a file is what was verified.

import { posix } from "node:path";
import { statfs } from "node:fs/promises";

/** Written beside a verified file as `<file>.verified`. */
export interface VerifiedRecord {
  /** Content identity the file was verified against. */
  id: string;
  size: number;
  mtimeMs: number;
  ino: number | null;
  dev: number | null;
  verifiedAt: string;
}

export const RECORD_SUFFIX = ".verified";

function randomName(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** A new temp file path in `dir`: `<prefix>.<pid>.<random>.tmp`. */
export function tempPath(dir: string, prefix: string): string {
  return posix.join(dir, `${prefix}.${Deno.pid}.${randomName()}.tmp`);
}

/** Writes bytes to `path` atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = posix.dirname(path);
  await Deno.mkdir(dir, { recursive: true });
  const tmp = tempPath(dir, posix.basename(path));
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
  try {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
    await file.syncData();
  } finally {
    file.close();
  }
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    if (err instanceof SyntaxError) return undefined; // torn or foreign: treat as absent
    throw err;
  }
}

/** Records that `path` (already in place) was verified as `id`. */
export async function recordVerified(path: string, id: string): Promise<VerifiedRecord> {
  const st = await Deno.stat(path);
  const record: VerifiedRecord = {
    id,
    size: st.size,
    mtimeMs: st.mtime?.getTime() ?? 0,
    ino: st.ino,
    dev: st.dev,
    verifiedAt: new Date().toISOString(),
  };
  await writeFileAtomic(path + RECORD_SUFFIX, JSON.stringify(record) + "\n");
  return record;
}

export type Validity = "valid" | "missing" | "changed";

/**
 * Whether `path` is still the file verified as `id`, by stat alone: same size, mtime,
 * inode and device as recorded. "changed" means it exists but is not what we verified.
 */
export async function checkVerified(path: string, id: string, size?: number): Promise<Validity> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
  const record = await readJson<VerifiedRecord>(path + RECORD_SUFFIX);
  if (!record || record.id !== id) return "changed";
  if (size !== undefined && st.size !== size) return "changed";
  if (st.size !== record.size) return "changed";
  if ((st.mtime?.getTime() ?? 0) !== record.mtimeMs) return "changed";
  if (record.ino !== null && st.ino !== null && st.ino !== record.ino) return "changed";
  if (record.dev !== null && st.dev !== null && st.dev !== record.dev) return "changed";
  return "valid";
}

/** Removes a file and its verification record (missing is fine). */
export async function removeVerified(path: string): Promise<void> {
  await Deno.remove(path + RECORD_SUFFIX).catch(() => {});
  await Deno.remove(path).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}

export function pidAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os === "linux") {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  }
  try {
    Deno.kill(pid, "SIGCONT"); // signal 0 is not available; SIGCONT is harmless
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound) && !/ESRCH|No such process/i.test(String(err));
  }
}

/** Removes `*.<pid>.<random>.tmp` entries in `dir` whose process is gone. */
export async function sweepTemps(dir: string): Promise<number> {
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      const m = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(entry.name);
      if (!m || pidAlive(Number(m[1]))) continue;
      await Deno.remove(posix.join(dir, entry.name), { recursive: true }).catch(() => {});
      removed++;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return removed;
}

/**
 * Runs `fn` holding an exclusive lock on `path` (created if needed). Other processes
 * wait; the kernel releases the lock if this process dies.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(posix.dirname(path), { recursive: true });
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}

/** Free bytes for unprivileged users on the file system holding `path` (statfs bavail). */
export async function freeBytes(path: string): Promise<number> {
  const st = await statfs(path);
  return st.bavail * st.bsize;
}
