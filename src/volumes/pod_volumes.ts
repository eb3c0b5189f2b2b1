// The volumes of one pod on this host, under <podDir>/volumes/<kind>/<name>: emptyDir (a
// directory, or tmpfs for medium Memory on Linux), hostPath (checked), and configMap, secret,
// downwardAPI and projected volumes written atomically and refreshed while the pod lives.
// Hands the runtime what each container needs: bind mounts for Docker containers, shares and
// in-guest mounts for the VM. Removes everything when the pod goes.

import type { Logger } from "../telemetry/log.ts";
import type { ObjectReader } from "../kube/objects.ts";
import { parseQuantity } from "../kube/quantity.ts";
import { writeAtomically } from "./atomic_writer.ts";
import type { DownwardContext } from "./downward.ts";
import { setUpHostPath } from "./host_path.ts";
import { VolumeError, volumeFiles } from "./payload.ts";
import type { PlannedMount, PlannedVolume, VolumePlan } from "./plan.ts";
import { PodTokens } from "./tokens.ts";
import { emptyDirStats, type VolumeStats } from "./usage.ts";

export interface PodVolumesDeps {
  /** <podsDir>/<uid>: volumes go under its volumes/ directory. */
  podDir: string;
  reader?: ObjectReader;
  /** The pod as it is now and what the downward API reports of it. */
  downward: () => DownwardContext;
  log: Logger;
  /** Share of a token's lifetime after which it is requested again (the kubelet's 0.8). */
  tokenRefreshFraction?: number;
}

/** How often a pod's volumes are refreshed, and when its tokens are; tests shorten both. */
export interface VolumeTiming {
  /** Config maps, secrets, downward API and tokens are read again this often (a minute). */
  refreshMs?: number;
  tokenRefreshFraction?: number;
}

/** One volume a container mounts, resolved to where its content is on this host. */
export interface HostMount extends PlannedMount {
  /** The host directory (or file) the mount shows, subPath included. */
  hostPath: string;
  /** The volume's own host directory (what a VM share exports). */
  volumeDir: string;
}

const run = async (cmd: string, args: string[]) => {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr).trim() };
};

export class PodVolumes {
  readonly #dirs = new Map<string, string>();
  readonly #tmpfs: string[] = [];
  readonly #tokens?: PodTokens;

  constructor(readonly plan: VolumePlan, private readonly deps: PodVolumesDeps) {
    if (deps.reader) {
      this.#tokens = new PodTokens(
        deps.downward().pod,
        deps.reader,
        Date.now,
        deps.tokenRefreshFraction,
      );
    }
  }

  get root(): string {
    return `${this.deps.podDir}/volumes`;
  }

  #dirOf(v: PlannedVolume): string {
    const kind = v.kind.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    return `${this.root}/${kind}/${v.name}`;
  }

  /** Sets every volume up; throws a VolumeError for the first that cannot be. */
  async setUp(): Promise<void> {
    for (const v of this.plan.volumes) {
      if (this.#dirs.has(v.name)) continue;
      this.#dirs.set(v.name, await this.#setUpOne(v));
    }
  }

  async #setUpOne(v: PlannedVolume): Promise<string> {
    const s = v.source;
    if (v.kind === "hostPath") return await setUpHostPath(s);
    const dir = this.#dirOf(v);
    await Deno.mkdir(dir, { recursive: true });
    if (v.kind === "emptyDir") {
      await Deno.chmod(dir, 0o777); // any user of the pod may write, as with the kubelet
      if (s.emptyDir?.medium === "Memory") await this.#mountTmpfs(v, dir);
      return dir;
    }
    await this.#write(v, dir);
    return dir;
  }

  async #mountTmpfs(v: PlannedVolume, dir: string): Promise<void> {
    if (Deno.build.os !== "linux") {
      this.deps.log.warn("emptyDir medium Memory is a plain directory on this host", {
        volume: v.name,
      });
      return;
    }
    const size = parseQuantity(v.source.emptyDir?.sizeLimit);
    const opts = ["mode=1777", ...(size ? [`size=${Math.ceil(size)}`] : [])].join(",");
    const r = await run("mount", ["-t", "tmpfs", "-o", opts, "tmpfs", dir]);
    if (!r.ok) throw new VolumeError(v.name, `cannot mount tmpfs: ${r.stderr}`);
    this.#tmpfs.push(dir);
  }

  async #write(v: PlannedVolume, dir: string): Promise<boolean> {
    const files = await volumeFiles(v.source, {
      reader: this.deps.reader,
      tokens: this.#tokens,
      downward: this.deps.downward(),
    });
    return await writeAtomically(dir, files);
  }

  /**
   * Reads config maps, secrets, the downward API and tokens again and updates the volumes
   * whose content changed. Returns the problems (the volumes keep their last content).
   */
  async refresh(): Promise<string[]> {
    const problems: string[] = [];
    for (const v of this.plan.volumes) {
      if (v.kind === "emptyDir" || v.kind === "hostPath") continue;
      const dir = this.#dirs.get(v.name);
      if (!dir) continue;
      try {
        if (await this.#write(v, dir)) this.deps.log.debug("volume updated", { volume: v.name });
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    return problems;
  }

  #usage?: { at: number; stats: Promise<VolumeStats[]> };

  /**
   * Usage of the pod's emptyDir volumes (for /stats/summary and the sizeLimit check),
   * walked again only when the last walk (or the one in progress) is `maxAgeMs` old: the
   * refresh loop walks every period, /stats/summary (metrics-server asks every 15 s) takes
   * that figure, as the kubelet serves the volume stats it computes once a minute.
   */
  stats(maxAgeMs = 0): Promise<VolumeStats[]> {
    const now = Date.now();
    if (this.#usage && now - this.#usage.at < maxAgeMs) return this.#usage.stats;
    const stats = this.#walkUsage();
    this.#usage = { at: now, stats };
    stats.catch(() => {
      if (this.#usage?.stats === stats) this.#usage = undefined;
    });
    return stats;
  }

  async #walkUsage(): Promise<VolumeStats[]> {
    const out: VolumeStats[] = [];
    for (const v of this.plan.volumes) {
      const dir = this.#dirs.get(v.name);
      if (v.kind !== "emptyDir" || !dir) continue;
      out.push(await emptyDirStats(v.name, dir, parseQuantity(v.source.emptyDir?.sizeLimit)));
    }
    return out;
  }

  /** When a token will need requesting again (the refresh loop wakes up for it). */
  nextTokenRefreshAt(): number | undefined {
    return this.#tokens?.nextRefreshAt();
  }

  /** The mounts of container `name`, resolved to host paths (after setUp). */
  mounts(name: string): HostMount[] {
    return (this.plan.mounts.get(name) ?? []).map((m) => {
      const volumeDir = this.#dirs.get(m.volume);
      if (!volumeDir) throw new Error(`volume ${m.volume} is not set up`);
      const hostPath = m.subPath ? `${volumeDir}/${m.subPath}` : volumeDir;
      return { ...m, volumeDir, hostPath };
    });
  }

  /** Docker bind mounts of container `name` ("host:container[:ro]"); subPaths made if missing. */
  async binds(name: string): Promise<string[]> {
    const out: string[] = [];
    for (const m of this.mounts(name)) {
      if (m.subPath) {
        const exists = await Deno.lstat(m.hostPath).then(() => true, () => false);
        if (!exists) await Deno.mkdir(m.hostPath, { recursive: true, mode: 0o777 });
      }
      out.push(`${m.hostPath}:${m.mountPath}${m.readOnly ? ":ro" : ""}`);
    }
    return out;
  }

  /** Unmounts and removes every volume directory of the pod (hostPath content stays). */
  async tearDown(): Promise<void> {
    for (const dir of this.#tmpfs.splice(0)) {
      const r = await run("umount", [dir]);
      if (!r.ok) this.deps.log.warn("cannot unmount a pod's tmpfs", { dir, error: r.stderr });
    }
    await Deno.remove(this.root, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
}

/** Unmounts tmpfs volumes left under `podDir` by an earlier agent (before removing it). */
export async function unmountLeftovers(podDir: string): Promise<void> {
  const mounts = await Deno.readTextFile("/proc/self/mounts").catch(() => "");
  for (const line of mounts.split("\n")) {
    const target = line.split(" ")[1]?.replace(/\\040/g, " ");
    if (target?.startsWith(`${podDir}/`)) await run("umount", [target]);
  }
}

/** A directory the VM exports, and where the guest mounts which part of it. */
export interface VmVolumes {
  shares: { name: string; hostPath: string; readOnly: boolean }[];
  mounts: { share: string; mountPath: string; subPath?: string; readOnly: boolean }[];
}

/**
 * The VM's shares and in-guest mounts for `mounts`: one share per volume (read-only when
 * every mount of it is); a volume that is a single file (hostPath of type File) is shared as
 * its directory with the file as the mount's subPath.
 */
/** A share's name from its volume's: as it is when it fits a virtio-fs tag (36 bytes). */
export function shareName(volume: string): string {
  if (new TextEncoder().encode(volume).length <= 36) return volume;
  let h = 0;
  for (const ch of volume) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `${volume.slice(0, 26)}-${h.toString(16).padStart(8, "0")}`;
}

export async function vmVolumes(mounts: HostMount[]): Promise<VmVolumes> {
  const shares = new Map<string, VmVolumes["shares"][number]>();
  const out: VmVolumes["mounts"] = [];
  for (const m of mounts) {
    const isDir = (await Deno.stat(m.volumeDir).catch(() => undefined))?.isDirectory ?? true;
    const dir = isDir ? m.volumeDir : m.volumeDir.slice(0, m.volumeDir.lastIndexOf("/")) || "/";
    const file = isDir ? undefined : m.volumeDir.slice(m.volumeDir.lastIndexOf("/") + 1);
    const name = shareName(m.volume);
    const share = shares.get(name);
    if (share) share.readOnly &&= m.readOnly;
    else shares.set(name, { name, hostPath: dir, readOnly: m.readOnly });
    const subPath = [file, m.subPath].filter((p) => p).join("/") || undefined;
    out.push({ share: name, mountPath: m.mountPath, subPath, readOnly: m.readOnly });
  }
  return { shares: [...shares.values()], mounts: out };
}
