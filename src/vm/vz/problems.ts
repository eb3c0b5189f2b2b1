// What keeps a VmSpec from running on this Mac, in words for the pod's status: an image
// without the files or identifiers its guest needs, a kernel the framework cannot boot, CPU or
// memory outside the framework's bounds, a bridge interface that is not there, share names the
// framework refuses. Pure: the host's facts come in as arguments.

import type { VzHostInfo } from "../../../ffi/types.ts";
import type { VmSpec } from "../types.ts";
import type { VzLimits, VzNetworkChoice } from "./description.ts";

export type MachineIdPolicy = "new" | "image";

export interface VzCheckInput {
  host: VzHostInfo;
  limits: VzLimits;
  network: VzNetworkChoice;
  machineId: MachineIdPolicy;
  /** hardwareModelSupported() of the image's hardware model (macOS images). */
  hardwareModelSupported?: boolean;
  /** kernelFormatProblem() of the image's kernel (Linux images). */
  kernelProblem?: string;
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 2 : 0)} GiB`;

/**
 * Whether the first bytes of a kernel are something VZLinuxBootLoader boots: an uncompressed
 * arm64 Linux Image ("ARM\x64" at offset 0x38). undefined when fine.
 */
export function kernelFormatProblem(head: Uint8Array): string | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) {
    return "the kernel is gzip-compressed; Virtualization.framework boots only an uncompressed " +
      "arm64 Image (gunzip it)";
  }
  const text = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (text(0, 2) === "MZ" && text(4, 8) === "zimg") {
    return "the kernel is an EFI zboot (compressed) image; Virtualization.framework boots only " +
      "the uncompressed arm64 Image";
  }
  if (head.length < 0x3c || text(0x38, 0x3c) !== "ARM\x64") {
    return "the kernel is not an arm64 Linux Image (no ARM\\x64 magic at offset 0x38); Apple " +
      "silicon runs arm64 guests only";
  }
  return undefined;
}

function shareProblems(spec: VmSpec): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const s of spec.shares ?? []) {
    if (!s.name || s.name === "." || s.name === ".." || s.name.includes("/")) {
      problems.push(`share name ${JSON.stringify(s.name)}: not a valid directory name`);
    } else if (seen.has(s.name)) {
      problems.push(`share name ${JSON.stringify(s.name)}: used twice`);
    }
    seen.add(s.name);
  }
  return problems;
}

function imageProblems(spec: VmSpec, c: VzCheckInput): string[] {
  const img = spec.image;
  const problems: string[] = [];
  if (img.os === "darwin") {
    if (!img.aux) problems.push("the image has no auxiliary storage (aux.img)");
    if (!img.hardwareModel) {
      problems.push("the image's config.json has no hardwareModelData");
    } else if (c.hardwareModelSupported === false) {
      problems.push(
        "the image's hardware model is not supported on this Mac (it needs a newer macOS host " +
          `than ${c.host.macOSVersion}, or other hardware)`,
      );
    } else if (c.hardwareModelSupported === undefined) {
      problems.push("the image's hardwareModelData is not a VZMacHardwareModel");
    }
    if (c.machineId === "image" && !img.machineId) {
      problems.push(
        "the image's config.json has no machineIdData, which --vz-machine-id=image needs",
      );
    }
  } else {
    if (!img.kernel) {
      problems.push("the image has no kernel; Linux guests on the vz backend boot one directly");
    } else if (c.kernelProblem) problems.push(c.kernelProblem);
  }
  return problems;
}

export function vzProblems(spec: VmSpec, c: VzCheckInput): string[] {
  if (!c.host.supported) {
    return [
      "this Mac cannot run virtual machines (Virtualization is not available on this " +
      "hardware: e.g. a hosted CI runner, or a VM without nested virtualization)",
    ];
  }
  const problems = imageProblems(spec, c);
  const { limits } = c;
  if (spec.cpus < limits.minCpus || spec.cpus > limits.maxCpus) {
    problems.push(
      `${spec.cpus} CPUs requested; a VM on this Mac can have ${limits.minCpus} to ` +
        `${limits.maxCpus}`,
    );
  }
  if (spec.memoryBytes < limits.minMemoryBytes || spec.memoryBytes > limits.maxMemoryBytes) {
    problems.push(
      `${gib(spec.memoryBytes)} of memory requested; a VM on this Mac can have ` +
        `${gib(limits.minMemoryBytes)} to ${gib(limits.maxMemoryBytes)}`,
    );
  }
  if (c.network.mode === "bridged") {
    const name = c.network.interface;
    const known = c.host.bridgedInterfaces.map((b) => b.identifier);
    if (!known.includes(name)) {
      problems.push(
        known.length
          ? `VZ_BRIDGE_INTERFACE=${name} cannot be bridged; interfaces that can: ${
            known.join(", ")
          }`
          : `VZ_BRIDGE_INTERFACE=${name}: no interface can be bridged: the binary needs the ` +
            `com.apple.vm.networking entitlement (resources/bridged.entitlements)`,
      );
    }
  }
  return [...problems, ...shareProblems(spec)];
}

/** The bounds a VM gets: the framework's, within the host's CPUs and memory. */
export function vzLimits(host: VzHostInfo, hostCpus: number, hostMemoryBytes: number): VzLimits {
  return {
    minCpus: Math.max(1, host.minCpus),
    maxCpus: Math.max(1, Math.min(hostCpus, host.maxCpus || hostCpus)),
    minMemoryBytes: Math.max(host.minMemoryBytes, 128 * 2 ** 20),
    maxMemoryBytes: Math.min(hostMemoryBytes, host.maxMemoryBytes || hostMemoryBytes),
  };
}
