// The vz backend's copy-on-write clones of an image's disk and auxiliary storage, through the
// shim's clonefile(2) (passed in: nothing is registered globally). On a volume that cannot
// clone (not APFS) it fails with a message saying how to fix it, or makes a full copy when
// --allow-image-copy says so. Never a silent copy: a macOS disk is tens of GB.

/** clonefile(src, dst, 0): 0 or -errno (ffi's VzShim.clonefile). */
export type Clonefile = (src: string, dst: string) => number;

export type CloneMethod = "clonefile" | "copy";

/** macOS errno names for the failures clonefile(2) documents. */
const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  17: "EEXIST",
  18: "EXDEV",
  28: "ENOSPC",
  30: "EROFS",
  45: "ENOTSUP",
  69: "EDQUOT",
};

export function errnoName(rc: number): string {
  return ERRNO[-rc] ?? `errno ${-rc}`;
}

/** Failures that mean the file system cannot clone (a full copy could still work). */
const CANNOT_CLONE = new Set([18, 45]);

export async function cloneImageFile(
  clonefile: Clonefile,
  src: string,
  dst: string,
  allowCopy: boolean,
): Promise<CloneMethod> {
  const rc = clonefile(src, dst);
  if (rc === 0) return "clonefile";
  if (!CANNOT_CLONE.has(-rc)) {
    throw new Error(`clone ${src} -> ${dst}: clonefile failed: ${errnoName(rc)}`);
  }
  if (!allowCopy) {
    throw new Error(
      `clone ${src} -> ${dst}: this file system cannot clone files (clonefile: ` +
        `${errnoName(rc)}); refusing a full copy of the image. Put the cache directory on APFS, ` +
        `or allow full copies with --allow-image-copy (VZK_ALLOW_IMAGE_COPY)`,
    );
  }
  await Deno.copyFile(src, dst);
  return "copy";
}
