// The qemu VmBackend: Linux guests under qemu-system (KVM when it really works, TCG
// otherwise), disks as qcow2 overlays over the cached image, networking on the agent's
// own bridge with dnsmasq DHCP. The only module that knows QEMU exists.

import type { Logger } from "../../telemetry/log.ts";
import type { Vm, VmBackend, VmSpec } from "../types.ts";
import { randomMac } from "../../network/mac.ts";
import { planSubnet } from "../../network/subnet.ts";
import { ensureBridge, ensureNat, removeTap, tapName, tapsOn } from "../../network/linux_bridge.ts";
import { type Dnsmasq, releaseLease, startDnsmasq } from "../../network/dnsmasq.ts";
import { probeKvm } from "./kvm.ts";
import { createQcow2Overlay } from "./overlay.ts";
import { pidAlive, QemuVm, recordPath, type VmRecord } from "./vm.ts";
import { stopVirtiofsd } from "./virtiofsd.ts";

export interface QemuBackendOptions {
  /** Directory holding one work directory per VM (<stateDir>/<id>) and the network state. */
  stateDir: string;
  bridge: string;
  subnet: string;
  nat: boolean;
  maxRunning: number;
  log: Logger;
  /** Defaults to qemu-system-<host arch>. */
  qemuBinary?: string;
}

export interface QemuBackend extends VmBackend {
  readonly accel: "kvm" | "tcg";
  readonly leasesFile: string;
  readonly dnsmasqPid: number;
}

const ARCH = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";

async function qemuVersion(qemu: string): Promise<string> {
  try {
    const out = await new Deno.Command(qemu, { args: ["--version"], stdout: "piped" }).output();
    return /version (\d+\.\d+\.\d+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "unknown";
  } catch (err) {
    throw new Error(
      `qemu backend: ${qemu} cannot run (${(err as Error).message}); install QEMU ` +
        `(Debian: apt-get install qemu-system-x86 qemu-utils)`,
    );
  }
}

export async function createQemuBackend(opts: QemuBackendOptions): Promise<QemuBackend> {
  const { log } = opts;
  const qemu = opts.qemuBinary ?? `qemu-system-${ARCH}`;
  const version = await qemuVersion(qemu);
  const kvm = await probeKvm(qemu);
  if (kvm.accel === "tcg") {
    log.warn("qemu: KVM not usable; guests run under TCG (slow)", { reason: kvm.reason });
  }
  const plan = planSubnet(opts.subnet);
  await Deno.mkdir(opts.stateDir, { recursive: true });
  await ensureBridge(opts.bridge, plan);
  if (opts.nat) {
    const problem = await ensureNat(plan);
    if (problem) {
      log.warn("qemu: no NAT for guests; they reach only this host", { reason: problem });
    }
  }
  const dnsmasq: Dnsmasq = await startDnsmasq({
    bridge: opts.bridge,
    plan,
    dir: `${opts.stateDir}/.network`,
    log,
  });
  const deps = {
    qemu,
    accel: kvm.accel,
    arch: ARCH as "x86_64" | "aarch64",
    bridge: opts.bridge,
    leasesFile: dnsmasq.leasesFile,
    networkProblem: dnsmasq.problem,
    log,
  };

  /** VMs this backend object controls, detached (left running) on close. */
  const vms = new Set<QemuVm>();

  async function readRecord(workDir: string): Promise<VmRecord | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(recordPath(workDir))) as VmRecord;
    } catch {
      return undefined;
    }
  }

  return {
    name: "qemu",
    maxRunning: opts.maxRunning,
    accel: kvm.accel,
    leasesFile: dnsmasq.leasesFile,
    version: `qemu://${version} (${kvm.accel})`,
    hostAddress: plan.gateway,
    networkProblem: dnsmasq.problem,
    /** dnsmasq's pid (tests). */
    get dnsmasqPid() {
      return dnsmasq.pid;
    },

    validate(spec: VmSpec): string[] {
      const problems: string[] = [];
      if (spec.image.os !== "linux") {
        problems.push(`image is for ${spec.image.os}; the qemu backend runs Linux guests only`);
      }
      if (!spec.image.kernel) {
        problems.push("image has no kernel; the qemu backend boots Linux images directly");
      }
      return problems;
    },

    async create(spec: VmSpec): Promise<Vm> {
      await Deno.mkdir(spec.workDir, { recursive: true });
      await createQcow2Overlay(spec.image.disk, `${spec.workDir}/disk.qcow2`);
      const record: VmRecord = {
        id: spec.id,
        name: spec.name,
        mac: spec.mac ?? randomMac(),
        tap: await tapName(spec.id),
      };
      await Deno.writeTextFile(recordPath(spec.workDir), JSON.stringify(record));
      const vm = new QemuVm(spec, record, deps);
      vms.add(vm);
      return vm;
    },

    async adopt(spec: VmSpec): Promise<Vm | undefined> {
      const record = await readRecord(spec.workDir);
      if (!record || !pidAlive(record.pid)) return undefined;
      const vm = new QemuVm(spec, record, deps);
      await vm.attach();
      vms.add(vm);
      return vm;
    },

    async leftovers(): Promise<string[]> {
      const ids = new Set<string>();
      for await (const e of Deno.readDir(opts.stateDir)) {
        if (e.isDirectory && !e.name.startsWith(".")) ids.add(e.name);
      }
      // Taps on our bridge that belong to no known VM directory are reported by name.
      const known = new Set(await Promise.all([...ids].map((id) => tapName(id))));
      for (const tap of await tapsOn(opts.bridge)) if (!known.has(tap)) ids.add(`tap:${tap}`);
      return [...ids];
    },

    async cleanup(id: string, workDir: string): Promise<void> {
      if (id.startsWith("tap:")) return await removeTap(id.slice(4));
      const record = await readRecord(workDir);
      if (record && pidAlive(record.pid)) {
        try {
          Deno.kill(record.pid!, "SIGKILL");
        } catch { /* exited meanwhile */ }
        for (let i = 0; i < 50 && pidAlive(record.pid); i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      if (record) {
        await releaseLease({
          bridge: opts.bridge,
          leasesFile: dnsmasq.leasesFile,
          mac: record.mac,
        });
      }
      await removeTap(record?.tap ?? await tapName(id));
      await stopVirtiofsd(workDir);
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    },

    async close() {
      for (const vm of vms) vm.detach();
      vms.clear();
      await dnsmasq.stop();
    },
  };
}
