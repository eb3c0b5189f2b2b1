// virtio-fs shares of a QEMU VM: one virtiofsd per shared directory, serving it on a socket
// in the VM's work directory (QEMU connects as the vhost-user front end). This virtiofsd has
// no read-only mode: read-only shares are mounted read-only in the guest (guest/mounts.ts). Like QEMU itself a
// virtiofsd outlives the agent (the VM keeps its files across an agent restart); it exits when
// its QEMU goes, and clean-up kills any left, found by their socket under the work directory.

import { posix } from "node:path";
import type { VmShare } from "../types.ts";

const CANDIDATES = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/bin/virtiofsd"];

function locate(): string {
  for (const p of CANDIDATES) {
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // not here
    }
  }
  throw new Error(
    "virtiofsd not found (looked in " + CANDIDATES.join(", ") + "); pods with volumes in the " +
      "VM need it: Debian's qemu-system-common has it",
  );
}

export const shareSocket = (workDir: string, i: number) => `${workDir}/vfs${i}.sock`;

async function waitForSocket(path: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await Deno.lstat(path).catch(() => undefined))?.isSocket) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/** Starts one virtiofsd per share; resolves once every socket is there. */
export async function startVirtiofsd(
  workDir: string,
  shares: VmShare[],
): Promise<{ tag: string; socket: string }[]> {
  if (!shares.length) return [];
  const binary = locate();
  const out: { tag: string; socket: string }[] = [];
  for (const [i, share] of shares.entries()) {
    const socket = shareSocket(workDir, i);
    await Deno.remove(socket).catch(() => {});
    const child = new Deno.Command(binary, {
      args: [
        `--socket-path=${socket}`,
        "-o",
        `source=${share.hostPath}`,
        "-o",
        "cache=none", // updates of config maps and secrets show at once
        "-o",
        "sandbox=chroot", // namespaces are not available everywhere (containers)
        "-o",
        "log_level=err",
        // To syslog, not to a pipe into the agent: the pipe would break when the agent goes
        // and take the VM's file system with it.
        "--syslog",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    let exited: number | undefined;
    child.status.then((s) => exited = s.code);
    if (!(await waitForSocket(socket, 5_000))) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      const why = exited === undefined ? "no socket after 5 s" : `exited ${exited}`;
      throw new Error(`virtiofsd for ${share.hostPath}: ${why} (its messages go to syslog)`);
    }
    out.push({ tag: share.name, socket });
  }
  return out;
}

/** Kills any virtiofsd still serving a socket under `workDir`. */
export async function stopVirtiofsd(workDir: string): Promise<void> {
  const prefix = posix.normalize(workDir) + "/vfs";
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes("virtiofsd") && cmd.includes(`--socket-path=${prefix}`)) {
      try {
        Deno.kill(Number(e.name), "SIGKILL");
      } catch { /* gone */ }
    }
  }
}
