// The qemu-system command line for one VM, virtio-fs shares included. Pure: every path and choice comes in as an
// argument, so the command line is unit-tested without starting anything.

import type { VmSpec } from "../types.ts";

export interface QemuPaths {
  /** Copy-on-write overlay of the image's disk. */
  disk: string;
  qmpSocket: string;
  /** The serial console, both ways, for attach (one client at a time, served by QEMU). */
  consoleSocket: string;
  /** Everything the guest writes to its console, whether or not anyone is attached. */
  consoleLog: string;
  pidFile: string;
}

export interface QemuChoices {
  accel: "kvm" | "tcg";
  arch: "x86_64" | "aarch64";
  tap: string;
  mac: string;
  /** virtio-fs shares: the guest mounts `tag`; virtiofsd serves it on `socket`. */
  shares?: { tag: string; socket: string }[];
}

export function qemuArgs(spec: VmSpec, paths: QemuPaths, c: QemuChoices): string[] {
  const memMiB = Math.max(64, Math.floor(spec.memoryBytes / 2 ** 20));
  const machine = c.arch === "aarch64" ? "virt" : "q35";
  const cpu = c.accel === "kvm" ? "host" : "max";
  const args = [
    "-name",
    `vzk-${spec.id},process=vzk-${spec.id}`,
    "-machine",
    `${machine},accel=${c.accel}`,
    "-cpu",
    cpu,
    "-smp",
    String(spec.cpus),
    "-m",
    `${memMiB}M`,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-chardev",
    `socket,id=console,path=${paths.consoleSocket},server=on,wait=off,` +
    `logfile=${paths.consoleLog},logappend=on`,
    "-serial",
    "chardev:console",
    "-qmp",
    `unix:${paths.qmpSocket},server=on,wait=off`,
    "-pidfile",
    paths.pidFile,
    "-daemonize",
    "-drive",
    `file=${paths.disk},if=virtio,format=qcow2,cache=unsafe,discard=unmap`,
    "-netdev",
    `tap,id=net0,ifname=${c.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=net0,mac=${c.mac}`,
    "-device",
    "virtio-rng-pci",
  ];
  const shares = c.shares ?? [];
  if (shares.length) {
    // vhost-user devices need the guest's memory shared with virtiofsd.
    args.push(
      "-object",
      `memory-backend-memfd,id=mem,size=${memMiB}M,share=on`,
      "-numa",
      "node,memdev=mem",
    );
    for (const [i, share] of shares.entries()) {
      args.push(
        "-chardev",
        `socket,id=vfs${i},path=${share.socket}`,
        "-device",
        `vhost-user-fs-pci,chardev=vfs${i},tag=${share.tag}`,
      );
    }
  }
  const img = spec.image;
  if (img.kernel) {
    args.push("-kernel", img.kernel);
    if (img.initrd) args.push("-initrd", img.initrd);
    args.push("-append", img.cmdline ?? "console=ttyS0");
  }
  return args;
}
