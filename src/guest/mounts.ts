// A pod's volumes (and its /etc/hosts entry for the API server) inside its VM, over SSH,
// before postStart and Ready: each volume the VM container mounts is a shared directory of the
// VM (virtio-fs); the guest gets it at the container's mountPath. Linux guests mount the share
// under /run/vzk and bind-mount it (or its subPath) at the mountPath, read-only when asked;
// macOS guests see shares automounted under "/Volumes/My Shared Files/<name>" and get a
// symlink at the mountPath. Idempotent, so an adopted VM is prepared the same way.

import { shellQuote as quote } from "./quote.ts";
import type { SshSession } from "./ssh.ts";

export interface GuestMount {
  /** The share's name (virtio-fs tag; the directory name macOS shows). */
  share: string;
  mountPath: string;
  subPath?: string;
  readOnly: boolean;
}

export const MACOS_SHARES = "/Volumes/My Shared Files";

/** The shell lines that mount `mounts` in a Linux guest (run as root). */
export function linuxMountScript(mounts: GuestMount[]): string {
  const lines = [
    // `mounted DIR`: whether DIR is a mount point (busybox has no mountpoint(1) everywhere).
    "mounted() { awk -v d=\"$1\" '$2 == d { found = 1 } END { exit !found }' /proc/mounts; }",
  ];
  for (const share of new Set(mounts.map((m) => m.share))) {
    const dir = quote(`/run/vzk/${share}`);
    const ro = mounts.filter((m) => m.share === share).every((m) => m.readOnly) ? "-o ro " : "";
    lines.push(
      `mkdir -p ${dir}`,
      `mounted ${dir} || mount -t virtiofs ${ro}${quote(share)} ${dir}`,
    );
  }
  for (const m of mounts) {
    const source = quote(`/run/vzk/${m.share}${m.subPath ? `/${m.subPath}` : ""}`);
    const target = quote(m.mountPath);
    lines.push(
      // A subPath that is a file is bind-mounted onto a file, anything else onto a directory.
      `if [ -d ${source} ] || [ ! -e ${source} ]; then mkdir -p ${source} ${target}; ` +
        `else mkdir -p "$(dirname ${target})"; [ -e ${target} ] || : > ${target}; fi`,
      `mounted ${target} || mount --bind ${source} ${target}`,
    );
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  return lines.join("\n");
}

/** The shell lines that link `mounts` into a macOS guest (run as root). */
export function darwinMountScript(mounts: GuestMount[]): string {
  const lines: string[] = [];
  for (const m of mounts) {
    const source = quote(`${MACOS_SHARES}/${m.share}${m.subPath ? `/${m.subPath}` : ""}`);
    const target = quote(m.mountPath);
    lines.push(
      `mkdir -p "$(dirname ${target})"`,
      // An empty directory left at the path would take the link inside it: remove it first.
      `if [ -d ${target} ] && [ ! -L ${target} ]; then rmdir ${target}; fi`,
      `ln -sfn ${source} ${target}`,
    );
  }
  return lines.join("\n");
}

/** Lines that make `names` resolve to `address` in /etc/hosts (replacing an older line). */
export function hostsScript(address: string, names: string[]): string {
  const line = `${address} ${names.join(" ")}`;
  return [
    `grep -v -F ${quote(` ${names[0]}`)} /etc/hosts > /etc/hosts.vzk || true`,
    `echo ${quote(line)} >> /etc/hosts.vzk`,
    "cat /etc/hosts.vzk > /etc/hosts && rm -f /etc/hosts.vzk",
  ].join("\n");
}

export interface GuestSetup {
  mounts: GuestMount[];
  /** An /etc/hosts entry, e.g. the API server's name at the host's address. */
  hosts?: { address: string; names: string[] };
}

/** The whole script for `setup` on `os`; empty when there is nothing to do. */
export function setupScript(os: "linux" | "darwin", setup: GuestSetup): string {
  const parts: string[] = [];
  if (setup.mounts.length) {
    parts.push(os === "darwin" ? darwinMountScript(setup.mounts) : linuxMountScript(setup.mounts));
  }
  if (setup.hosts) parts.push(hostsScript(setup.hosts.address, setup.hosts.names));
  return parts.length ? ["set -e", ...parts].join("\n") : "";
}

/**
 * Prepares the guest for the pod (its volumes, its /etc/hosts) as root, with sudo when the
 * SSH user is not; throws with the guest's error output when it fails.
 */
export async function prepareGuest(
  ssh: SshSession,
  os: "linux" | "darwin",
  setup: GuestSetup,
): Promise<void> {
  const script = setupScript(os, setup);
  if (!script) return;
  let stderr = "";
  const dec = new TextDecoder();
  const asRoot = '[ "$(id -u)" -eq 0 ] && exec sh -c "$1" || exec sudo -n sh -c "$1"';
  const code = await ssh.exec(["sh", "-c", asRoot, "sh", script], {
    stderr: (d) => void (stderr += dec.decode(d, { stream: true })),
  });
  if (code !== 0) {
    const why = stderr.trim().slice(-500);
    throw new Error(`preparing the guest (volumes, /etc/hosts): exit ${code}: ${why}`);
  }
}
