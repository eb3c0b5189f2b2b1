// The vz VmBackend: macOS (and arm64 Linux) guests through Apple's Virtualization framework,
// one helper process per VM (vm.ts, helper.ts), clonefile clones of the image's disk and
// auxiliary storage, a new machine identifier per VM unless told to keep the image's, NAT or
// bridged networking, at most two VMs (the framework's and the licence's limit). Only this
// folder knows the framework exists; the shim comes in as a VzShim, so the backend's slot,
// adoption and clean-up logic runs on Linux against a scripted one.

import type { VzHostInfo, VzShim } from "../../../ffi/types.ts";
import type { Logger } from "../../telemetry/log.ts";
import type { Vm, VmBackend, VmSpec } from "../types.ts";
import { randomMac } from "../../network/mac.ts";
import { cloneImageFile } from "./clone.ts";
import {
  base64,
  type VzDescription,
  vzDescription,
  type VzLimits,
  type VzNetworkChoice,
} from "./description.ts";
import { type GuestIpSources, macosIpSources } from "./ip.ts";
import { defaultHelperCommand, type HelperCommand } from "./launch.ts";
import { kernelFormatProblem, type MachineIdPolicy, vzLimits, vzProblems } from "./problems.ts";
import type { HelperSpec } from "./protocol.ts";
import {
  controlSocketPath,
  ensureSocketDir,
  helperAlive,
  readRecord,
  vmPaths,
  type VzVmRecord,
  writeRecord,
} from "./record.ts";
import { VzVm } from "./vm.ts";

/** Virtualization.framework runs at most two macOS VMs at once (and the licence allows two). */
export const VZ_MAX_VMS = 2;

/** The Mac's address on the shared (NAT) network of its VMs (192.168.64.0/24, bootpd). */
export const VZ_NAT_HOST_ADDRESS = "192.168.64.1";

export interface VzBackendOptions {
  /** Directory holding one work directory per VM (<stateDir>/<id>). */
  stateDir: string;
  /** --max-vms; more than VZ_MAX_VMS is lowered to it. */
  maxRunning: number;
  log: Logger;
  shim: VzShim;
  /** The host's CPUs and memory, narrowing the framework's bounds. */
  hostCpus: number;
  hostMemoryBytes: number;
  /** VZ_BRIDGE_INTERFACE: bridged networking on this interface; NAT when unset. */
  bridgeInterface?: string;
  /** --vz-machine-id: a new identifier per VM (default) or the image's own. */
  machineId: MachineIdPolicy;
  /** --allow-image-copy: full copies where the file system cannot clone. */
  allowImageCopy: boolean;
  helperCommand?: HelperCommand;
  ipSources?: GuestIpSources;
  /** Where sockets go when the work directory's path is too long for one (default /tmp). */
  socketRoot?: string;
  /** How long a SIGKILLed helper may take to go. */
  killWaitMs?: number;
}

export interface VzBackend extends VmBackend {
  readonly host: VzHostInfo;
  /** The bounds a pod's VM must stay within (for admission). */
  readonly limits: VzLimits;
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

/** The first bytes of a file, for format checks; empty when unreadable. */
function head(path: string, n = 64): Uint8Array {
  try {
    const f = Deno.openSync(path, { read: true });
    try {
      const buf = new Uint8Array(n);
      const got = f.readSync(buf) ?? 0;
      return buf.subarray(0, got);
    } finally {
      f.close();
    }
  } catch {
    return new Uint8Array();
  }
}

export async function createVzBackend(opts: VzBackendOptions): Promise<VzBackend> {
  const { log, shim } = opts;
  const host = shim.hostInfo();
  if (!host.supported) {
    throw new Error(
      "this Mac cannot run virtual machines: Virtualization.framework reports it unsupported " +
        "(Virtualization is not available on this hardware, e.g. a hosted CI runner)",
    );
  }
  const limits = vzLimits(host, opts.hostCpus, opts.hostMemoryBytes);
  const maxRunning = Math.min(opts.maxRunning, VZ_MAX_VMS);
  if (opts.maxRunning > VZ_MAX_VMS) {
    log.warn("vz: at most 2 VMs run at once (Virtualization.framework's limit)", {
      maxVms: opts.maxRunning,
      using: maxRunning,
    });
  }
  const network: VzNetworkChoice = opts.bridgeInterface
    ? { mode: "bridged", interface: opts.bridgeInterface }
    : { mode: "nat" };
  const deps = {
    log,
    helperCommand: opts.helperCommand ?? defaultHelperCommand,
    network,
    ipSources: opts.ipSources ?? macosIpSources(),
    killWaitMs: opts.killWaitMs,
    forget: (vm: VzVm) => {
      if (vms.get(vm.id) === vm) vms.delete(vm.id);
    },
  };
  await Deno.mkdir(opts.stateDir, { recursive: true });
  /** VMs this backend object controls, detached (left running) on close. */
  const vms = new Map<string, VzVm>();

  function problems(spec: VmSpec): string[] {
    const img = spec.image;
    return vzProblems(spec, {
      host,
      limits,
      network,
      machineId: opts.machineId,
      hardwareModelSupported: img.os === "darwin" && img.hardwareModel
        ? shim.hardwareModelSupported(base64(img.hardwareModel))
        : undefined,
      kernelProblem: img.os === "linux" && img.kernel
        ? kernelFormatProblem(head(img.kernel))
        : undefined,
    });
  }

  /** The machine identifier a new macOS VM runs with. */
  function machineIdentifier(spec: VmSpec): string | undefined {
    if (spec.image.os !== "darwin") return undefined;
    if (opts.machineId === "new") return shim.newMachineIdentifier();
    const id = base64(spec.image.machineId!);
    for (const other of vms.values()) {
      const active = other.state !== "stopped" && other.state !== "error";
      if (other.record.machineIdentifier === id && active) {
        throw new Error(
          `vm ${spec.name}: ${other.spec.name} already runs with this image's machine ` +
            `identifier; two VMs with one identifier is undefined behaviour. Use ` +
            `--vz-machine-id=new, or run one VM of this image at a time`,
        );
      }
    }
    return id;
  }

  async function stopLeftover(workDir: string, record: VzVmRecord | undefined) {
    if (!record) return;
    const vm = new VzVm({ id: record.id, name: record.name, workDir }, record, deps);
    if (await helperAlive(record.pid, vmPaths(workDir).helperSpec)) {
      await vm.attach().catch(() => {});
      await vm.stop({ graceful: false, timeoutMs: 0 });
    }
    await vm.destroy();
  }

  return {
    name: "vz",
    maxRunning,
    host,
    limits,
    version: `vz://${host.macOSVersion}`,
    // NAT guests reach the Mac at bridge100's address (vmnet's shared network); bridged guests
    // are on the LAN, with no address of this host set aside for them.
    hostAddress: opts.bridgeInterface ? undefined : VZ_NAT_HOST_ADDRESS,

    validate: problems,

    async create(spec: VmSpec): Promise<Vm> {
      const found = problems(spec);
      if (found.length) throw new Error(`vm ${spec.name}: ${found.join("; ")}`);
      const running = vms.get(spec.id);
      if (running && running.state !== "stopped" && running.state !== "error") {
        throw new Error(`vm ${spec.name}: a VM for this pod already exists (${running.state})`);
      }
      const paths = vmPaths(spec.workDir);
      const earlier = await readRecord(spec.workDir);
      if (earlier && await helperAlive(earlier.pid, paths.helperSpec)) {
        throw new Error(
          `vm ${spec.name}: the helper of an earlier VM of this pod still runs (pid ` +
            `${earlier.pid}); adopt it or clean it up first`,
        );
      }
      await Deno.mkdir(spec.workDir, { recursive: true });
      // A fresh VM from the image: no clone of an earlier one may be reused.
      for (const f of [paths.disk, paths.aux, paths.exitFile]) await Deno.remove(f).catch(() => {});
      let clone: VzVmRecord["clone"];
      try {
        clone = await cloneImageFile(
          shim.clonefile,
          spec.image.disk,
          paths.disk,
          opts.allowImageCopy,
        );
        if (spec.image.os === "darwin") {
          await cloneImageFile(shim.clonefile, spec.image.aux!, paths.aux, opts.allowImageCopy);
        }
      } catch (err) {
        throw new Error(`vm ${spec.name}: ${errText(err)}`);
      }
      const socketPath = controlSocketPath(
        spec.workDir,
        spec.id,
        opts.socketRoot ?? "/tmp",
        Deno.uid() ?? 0,
      );
      await ensureSocketDir(socketPath, spec.workDir);
      const record: VzVmRecord = {
        id: spec.id,
        name: spec.name,
        os: spec.image.os,
        mac: spec.mac ?? randomMac(),
        machineIdentifier: machineIdentifier(spec),
        socketPath,
        clone,
      };
      const description: VzDescription = vzDescription(spec, {
        network,
        mac: record.mac,
        disk: paths.disk,
        aux: spec.image.os === "darwin" ? paths.aux : undefined,
        consoleLog: paths.consoleLog,
        machineIdentifier: record.machineIdentifier,
        limits,
      });
      await Deno.writeTextFile(paths.consoleLog, "", { append: true });
      try {
        shim.validateConfiguration(JSON.stringify(description));
      } catch (err) {
        throw new Error(`vm ${spec.name}: the VM configuration is not valid: ${errText(err)}`);
      }
      const helperSpec: HelperSpec = {
        id: spec.id,
        name: spec.name,
        os: spec.image.os,
        socketPath,
        consoleLog: paths.consoleLog,
        exitFile: paths.exitFile,
        description,
      };
      await Deno.writeTextFile(paths.helperSpec, JSON.stringify(helperSpec, null, 2));
      await writeRecord(spec.workDir, record);
      const vm = new VzVm(spec, record, deps);
      vms.set(spec.id, vm);
      return vm;
    },

    async adopt(spec: VmSpec): Promise<Vm | undefined> {
      const record = await readRecord(spec.workDir);
      if (!record || record.id !== spec.id) return undefined;
      if (!(await helperAlive(record.pid, vmPaths(spec.workDir).helperSpec))) return undefined;
      const vm = new VzVm(spec, record, deps);
      try {
        await vm.attach();
      } catch (err) {
        log.warn("vz: a VM helper runs but does not answer", { vm: spec.name, error: err });
        return undefined;
      }
      if (vm.state !== "running") {
        vm.detach(); // not started, or ending: the runtime cleans it up and starts afresh
        return undefined;
      }
      vms.set(spec.id, vm);
      return vm;
    },

    async leftovers(): Promise<string[]> {
      const ids: string[] = [];
      for await (const e of Deno.readDir(opts.stateDir)) {
        if (e.isDirectory && !e.name.startsWith(".")) ids.push(e.name);
      }
      return ids;
    },

    async cleanup(id: string, workDir: string): Promise<void> {
      const known = vms.get(id);
      vms.delete(id);
      if (known) return await known.destroy();
      await stopLeftover(workDir, await readRecord(workDir));
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    },

    close(): Promise<void> {
      for (const vm of vms.values()) vm.detach();
      vms.clear();
      return Promise.resolve();
    },
  };
}
