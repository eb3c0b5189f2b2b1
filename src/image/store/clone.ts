// Copy-on-write clones of cached image files, so each pod gets writable disk and aux
// files without copying tens of GB: reflinks (FICLONE) on Linux file systems that have them
// (XFS with reflink, btrfs). On macOS the vz backend clones with clonefile(2) itself, through
// its shim (src/vm/vz/clone.ts); the qemu backend layers a qcow2 overlay instead
// (src/vm/qemu/overlay.ts). Never a silent full copy: without copy-on-write a clone fails
// with a message saying so, unless the caller explicitly allows copying.

import { posix } from "node:path";

export type CloneMethod = "reflink" | "copy";

export interface CloneOptions {
  /** Fall back to a full (sparse) copy when copy-on-write is unavailable. Off by default. */
  allowCopy?: boolean;
}

/** Thrown when a copy-on-write clone is impossible and copying was not allowed. */
export class CloneUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CloneUnsupportedError";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr).trim() };
}

/** A full copy that keeps holes (the explicit fallback). */
async function sparseCopy(src: string, dst: string): Promise<void> {
  const args = Deno.build.os === "linux" ? ["--sparse=always", src, dst] : [src, dst];
  const r = await run("cp", args);
  if (!r.ok) throw new Error(`copying ${src} to ${dst} failed: ${r.stderr}`);
}

/**
 * Linux: GNU cp's `--reflink=always` issues the FICLONE ioctl and fails instead of copying
 * when the file system cannot share extents. Used rather than our own ioctl because Deno
 * has no ioctl; doing it through FFI would need --allow-ffi and per-architecture libc
 * bindings for one call that coreutils already makes correctly.
 */
async function reflink(src: string, dst: string): Promise<string | undefined> {
  const r = await run("cp", ["--reflink=always", src, dst]);
  if (r.ok) return undefined;
  await Deno.remove(dst).catch(() => {});
  return r.stderr || "cp --reflink=always failed";
}

/**
 * Clones `src` to `dst` (which must not exist) copy-on-write; returns how it was done.
 * Throws CloneUnsupportedError when no copy-on-write is possible and allowCopy is off.
 */
export async function cloneFile(
  src: string,
  dst: string,
  opts: CloneOptions = {},
): Promise<CloneMethod> {
  if (await exists(dst)) throw new Error(`clone ${src} -> ${dst}: destination exists`);
  await Deno.stat(src).catch((err) => {
    throw new Error(`clone ${src}: ${err instanceof Error ? err.message : err}`);
  });
  await Deno.mkdir(posix.dirname(dst), { recursive: true });
  let why: string;
  if (Deno.build.os === "linux") {
    const failure = await reflink(src, dst);
    if (failure === undefined) return "reflink";
    why = `the file system does not support reflinks (${failure})`;
  } else {
    // macOS: clonefile(2) needs the shim, which only the vz backend loads (src/vm/vz/clone.ts).
    why = `no copy-on-write clone here on ${Deno.build.os}`;
  }
  if (!opts.allowCopy) {
    throw new CloneUnsupportedError(
      `clone ${src} -> ${dst}: ${why}; refusing a full copy of the image. Put the cache ` +
        `directory on APFS (macOS) or XFS with reflink / btrfs (Linux), or allow full copies ` +
        `with --allow-image-copy (VZK_ALLOW_IMAGE_COPY)`,
    );
  }
  await sparseCopy(src, dst);
  return "copy";
}
