// The JSON description of one VM that objc-shim/vzshim.m turns into a
// VZVirtualMachineConfiguration, assembled from a VmSpec. Pure: every path and choice comes
// in as an argument, so the devices a guest gets are unit-tested on Linux, as qemu/args.ts is
// for QEMU's command line. The shim reads exactly these fields (see add_* in vzshim.m).

import { VZSHIM_ABI_VERSION } from "../../../ffi/symbols.ts";
import type { VmShare, VmSpec } from "../types.ts";

export interface VzDisk {
  path: string;
  readOnly: boolean;
  caching: "automatic" | "cached" | "uncached";
  sync: "full" | "fsync" | "none";
}

export type VzNetworkChoice = { mode: "nat" } | { mode: "bridged"; interface: string };

export type VzNic =
  & { mac: string }
  & ({ attachment: "nat" } | { attachment: "bridged"; interface: string });

export interface VzShareDevice {
  /** null: the macOS guest automount tag (the guest mounts it under /Volumes/My Shared Files). */
  tag: string | null;
  directories: { name: string; path: string; readOnly: boolean }[];
}

export interface VzDescription {
  version: number;
  cpus: number;
  memoryBytes: number;
  boot:
    | { kind: "macos" }
    | { kind: "linux"; kernel: string; initrd?: string; commandLine: string };
  platform:
    | { kind: "mac"; hardwareModel: string; machineIdentifier: string; auxiliaryStorage: string }
    | { kind: "generic" };
  storage: VzDisk[];
  network: VzNic[];
  graphics: { kind: "mac"; width: number; height: number; pixelsPerInch: number } | null;
  keyboard: "usb" | "mac" | "none";
  pointing: ("usb-screen-coordinate" | "mac-trackpad")[];
  entropy: boolean;
  memoryBalloon: boolean;
  /** One virtio socket device (for a guest agent); the framework allows no more. */
  socket: boolean;
  directoryShares: VzShareDevice[];
  /** Linux guests: the virtio console's output, appended to this file. */
  serialLog: string | null;
}

/** CPU and memory bounds a VM must stay within (the framework's, narrowed to the host). */
export interface VzLimits {
  minCpus: number;
  maxCpus: number;
  minMemoryBytes: number;
  maxMemoryBytes: number;
}

/** What the backend decided for this VM, beyond the spec. */
export interface VzChoices {
  network: VzNetworkChoice;
  mac: string;
  /** The VM's own clones of the image's disk and (macOS) auxiliary storage. */
  disk: string;
  aux?: string;
  consoleLog: string;
  /** macOS: the machine identifier (base64 data representation) this VM runs with. */
  machineIdentifier?: string;
  limits: VzLimits;
}

/** One display even headless: macOS guests misbehave without a graphics device. */
export const MAC_DISPLAY = { kind: "mac", width: 1920, height: 1200, pixelsPerInch: 80 } as const;

/** virtio-fs tag of Linux guests' share device (`mount -t virtiofs vzk-volumes /mnt`). */
export const LINUX_SHARE_TAG = "vzk-volumes";

const MIB = 2 ** 20;

export function base64(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

/** Whole CPUs within the bounds. */
export function clampCpus(cpus: number, limits: VzLimits): number {
  const n = Math.floor(cpus);
  return Math.min(limits.maxCpus, Math.max(limits.minCpus, Number.isFinite(n) ? n : 1));
}

/** The framework wants a multiple of 1 MiB within its bounds. */
export function clampMemory(bytes: number, limits: VzLimits): number {
  const lo = Math.ceil(limits.minMemoryBytes / MIB) * MIB;
  const hi = Math.floor(limits.maxMemoryBytes / MIB) * MIB;
  return Math.min(hi, Math.max(lo, Math.floor(bytes / MIB) * MIB));
}

/**
 * A Linux command line for the vz console: the framework's serial console is hvc0, so QEMU's
 * console=ttyS0 / ttyAMA0 (what the same image family carries for the qemu backend) becomes
 * console=hvc0, and one is added when there is none.
 */
export function linuxCommandLine(cmdline: string | undefined): string {
  const words = (cmdline ?? "").split(/\s+/).filter((w) => w);
  const mapped = words.map((w) =>
    /^console=(ttyS\d+|ttyAMA\d+)(,.*)?$/.test(w) ? "console=hvc0" : w
  );
  const unique = mapped.filter((w, i) => w !== "console=hvc0" || mapped.indexOf(w) === i);
  if (!unique.some((w) => w.startsWith("console="))) unique.push("console=hvc0");
  return unique.join(" ");
}

function nic(c: VzChoices): VzNic {
  return c.network.mode === "bridged"
    ? { attachment: "bridged", interface: c.network.interface, mac: c.mac }
    : { attachment: "nat", mac: c.mac };
}

function shareDevices(shares: VmShare[] | undefined, tag: string | null): VzShareDevice[] {
  if (!shares?.length) return [];
  return [{
    tag,
    directories: shares.map((s) => ({ name: s.name, path: s.hostPath, readOnly: s.readOnly })),
  }];
}

/** The description of `spec` with the backend's choices `c`. */
export function vzDescription(spec: VmSpec, c: VzChoices): VzDescription {
  const common = {
    version: VZSHIM_ABI_VERSION,
    cpus: clampCpus(spec.cpus, c.limits),
    memoryBytes: clampMemory(spec.memoryBytes, c.limits),
    storage: [{ path: c.disk, readOnly: false, caching: "automatic", sync: "full" } as VzDisk],
    network: [nic(c)],
    entropy: true,
    memoryBalloon: true,
    socket: true,
  };
  const img = spec.image;
  if (img.os === "darwin") {
    if (!img.hardwareModel || !c.aux || !c.machineIdentifier) {
      throw new Error(
        `vm ${spec.name}: a macOS guest needs a hardware model, auxiliary storage and a ` +
          `machine identifier`,
      );
    }
    return {
      ...common,
      boot: { kind: "macos" },
      platform: {
        kind: "mac",
        hardwareModel: base64(img.hardwareModel),
        machineIdentifier: c.machineIdentifier,
        auxiliaryStorage: c.aux,
      },
      graphics: { ...MAC_DISPLAY },
      keyboard: "usb",
      pointing: ["usb-screen-coordinate", "mac-trackpad"],
      directoryShares: shareDevices(spec.shares, null),
      serialLog: null,
    };
  }
  if (!img.kernel) throw new Error(`vm ${spec.name}: a Linux guest needs a kernel`);
  return {
    ...common,
    boot: {
      kind: "linux",
      kernel: img.kernel,
      ...(img.initrd ? { initrd: img.initrd } : {}),
      commandLine: linuxCommandLine(img.cmdline),
    },
    platform: { kind: "generic" },
    graphics: null,
    keyboard: "none",
    pointing: [],
    directoryShares: shareDevices(spec.shares, LINUX_SHARE_TAG),
    serialLog: c.consoleLog,
  };
}
