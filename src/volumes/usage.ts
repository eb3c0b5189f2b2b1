// How much an emptyDir holds: bytes on disk and inodes under its directory, walked the way
// `du` does (hard links counted once, symlinks not followed), against its sizeLimit. The
// kubelet API's /stats/summary reports it per pod volume; going over the limit is an event.

/** One volume's usage as /stats/summary reports it. */
export interface VolumeStats {
  name: string;
  usedBytes: number;
  inodesUsed: number;
  /** The volume's sizeLimit, when it has one. */
  capacityBytes?: number;
  availableBytes?: number;
}

/** Bytes allocated (512-byte blocks where the host reports them) and entries under `dir`. */
export async function directoryUsage(dir: string): Promise<{ bytes: number; inodes: number }> {
  let bytes = 0;
  let inodes = 0;
  const seen = new Set<number>();
  const walk = async (path: string) => {
    const info = await Deno.lstat(path).catch(() => undefined);
    if (!info) return; // removed meanwhile
    if (info.ino !== null && info.nlink !== null && info.nlink > 1) {
      if (seen.has(info.ino)) return;
      seen.add(info.ino);
    }
    inodes++;
    bytes += info.blocks !== null ? info.blocks * 512 : info.size;
    if (!info.isDirectory) return;
    for await (const entry of Deno.readDir(path)) await walk(`${path}/${entry.name}`);
  };
  await walk(dir);
  return { bytes, inodes };
}

/** The stats of one emptyDir at `dir`, limited to `limitBytes` when it has a sizeLimit. */
export async function emptyDirStats(
  name: string,
  dir: string,
  limitBytes: number | undefined,
): Promise<VolumeStats> {
  const { bytes, inodes } = await directoryUsage(dir);
  return {
    name,
    usedBytes: bytes,
    inodesUsed: inodes,
    capacityBytes: limitBytes,
    availableBytes: limitBytes !== undefined ? Math.max(0, limitBytes - bytes) : undefined,
  };
}

/** The event message when an emptyDir holds more than its sizeLimit (the kubelet's words). */
export function overLimitMessage(s: VolumeStats): string | undefined {
  if (s.capacityBytes === undefined || s.usedBytes <= s.capacityBytes) return undefined;
  return `Usage of EmptyDir volume "${s.name}" exceeds the limit "${s.capacityBytes}" ` +
    `(${s.usedBytes} bytes used).`;
}
