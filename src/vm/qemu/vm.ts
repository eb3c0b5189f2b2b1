// One QEMU virtual machine: a daemonized qemu-system process (so VMs outlive an agent
// restart, like containers outlive a kubelet restart), watched and controlled over QMP.
// Its record (vm.json) in the VM's work directory lets a later agent adopt or clean it up.

import type { Logger } from "../../telemetry/log.ts";
import type { Vm, VmSpec, VmState } from "../types.ts";
import { ipFromNeighbours, leaseFor, parseDnsmasqLeases } from "../../network/leases.ts";
import { createTap, removeTap } from "../../network/linux_bridge.ts";
import { releaseLease } from "../../network/dnsmasq.ts";
import { qemuArgs } from "./args.ts";
import { connectQmp, type QmpClient } from "./qmp.ts";
import { startVirtiofsd, stopVirtiofsd } from "./virtiofsd.ts";

export interface VmRecord {
  id: string;
  name: string;
  mac: string;
  tap: string;
  pid?: number;
}

export interface QemuVmDeps {
  qemu: string;
  accel: "kvm" | "tcg";
  arch: "x86_64" | "aarch64";
  bridge: string;
  leasesFile: string;
  /** Why guests get no address now (DHCP down); checked while waiting for one. */
  networkProblem?: () => string | undefined;
  log: Logger;
}

export const recordPath = (workDir: string) => `${workDir}/vm.json`;

export function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is not alive
  } catch {
    return false;
  }
}

export class QemuVm implements Vm {
  #state: VmState = "created";
  #reason?: string;
  #listeners: ((s: VmState, reason?: string) => void)[] = [];
  #qmp?: QmpClient;
  #shutdownSeen = false;
  #stopping = false;
  #detached = false;

  constructor(
    readonly spec: VmSpec,
    readonly record: VmRecord,
    readonly deps: QemuVmDeps,
  ) {}

  get id() {
    return this.spec.id;
  }
  get mac() {
    return this.record.mac;
  }
  get state() {
    return this.#state;
  }
  get reason() {
    return this.#reason;
  }
  get pid() {
    return this.record.pid;
  }

  onStateChange(fn: (s: VmState, reason?: string) => void) {
    this.#listeners.push(fn);
  }

  #set(state: VmState, reason?: string) {
    if (this.#state === state && this.#reason === reason) return;
    this.#state = state;
    this.#reason = reason;
    this.deps.log.info("vm state", { vm: this.spec.name, state, reason });
    for (const l of this.#listeners) l(state, reason);
  }

  consoleLogPath() {
    return `${this.spec.workDir}/console.log`;
  }

  consoleSocketPath(): string | undefined {
    const path = `${this.spec.workDir}/console.sock`;
    try {
      return Deno.statSync(path).isSocket ? path : undefined;
    } catch {
      return undefined; // a VM started before consoles were served both ways
    }
  }

  #paths() {
    const w = this.spec.workDir;
    return {
      disk: `${w}/disk.qcow2`,
      qmpSocket: `${w}/qmp.sock`,
      consoleSocket: `${w}/console.sock`,
      consoleLog: this.consoleLogPath(),
      pidFile: `${w}/qemu.pid`,
    };
  }

  async start(): Promise<void> {
    this.#set("starting");
    const paths = this.#paths();
    try {
      await createTap(this.record.tap, this.deps.bridge);
      await Deno.remove(paths.qmpSocket).catch(() => {});
      await Deno.remove(paths.consoleSocket).catch(() => {});
      await stopVirtiofsd(this.spec.workDir); // a failed start's, if any
      const shares = await startVirtiofsd(this.spec.workDir, this.spec.shares ?? []);
      const args = qemuArgs(this.spec, paths, {
        accel: this.deps.accel,
        arch: this.deps.arch,
        tap: this.record.tap,
        mac: this.record.mac,
        shares,
      });
      const out = await new Deno.Command(this.deps.qemu, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("; ");
        throw new Error(`qemu exited ${out.code}: ${err}`);
      }
      this.record.pid = Number((await Deno.readTextFile(paths.pidFile)).trim());
      await this.#save();
      await this.#attach();
      this.#set("running");
    } catch (err) {
      this.#set("error", `start: ${(err as Error).message}`);
      throw new Error(`vm ${this.spec.name}: start: ${(err as Error).message}`);
    }
  }

  /** Connects QMP to a running QEMU (after start, or when adopting one). */
  async attach(): Promise<void> {
    await this.#attach();
    this.#set("running");
  }

  async #attach(): Promise<void> {
    const qmp = await connectQmp(this.#paths().qmpSocket);
    this.#qmp = qmp;
    qmp.onEvent((e) => {
      if (e.event === "SHUTDOWN") this.#shutdownSeen = true;
      if (e.event === "GUEST_PANICKED") this.#set("error", "guest kernel panicked");
    });
    qmp.closed.then(() => this.#exited());
  }

  /** Lets go of QMP (QEMU accepts one client) and leaves the VM running for another agent. */
  detach(): void {
    this.#detached = true;
    this.#qmp?.close();
  }

  #exited() {
    if (this.#detached) return;
    if (this.#state === "error" && this.#reason?.startsWith("start")) return;
    if (this.#stopping || this.#shutdownSeen) {
      this.#set("stopped", this.#stopping ? "stopped by the agent" : "the guest powered off");
    } else {
      this.#set(
        "error",
        `qemu process ${this.record.pid} ended without a shutdown: killed or crashed`,
      );
    }
  }

  async stop(opts: { graceful: boolean; timeoutMs: number }): Promise<void> {
    // "stopped" is believed only while the process is really gone (QMP can close first).
    const settled = this.#state === "stopped" || this.#state === "created";
    if (settled && !pidAlive(this.record.pid)) return;
    this.#stopping = true;
    this.#set("stopping");
    const qmp = this.#qmp;
    const gone = () => !pidAlive(this.record.pid);
    if (opts.graceful && qmp && !gone()) {
      await qmp.execute("system_powerdown").catch(() => {});
      await waitUntil(gone, opts.timeoutMs);
    }
    if (!gone() && qmp) {
      await qmp.execute("quit").catch(() => {});
      await waitUntil(gone, 2_000);
    }
    if (!gone() && this.record.pid) {
      try {
        Deno.kill(this.record.pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
      // A killed process still waiting on I/O (a loaded disk) takes a while to go. Until it
      // has, the VM is not stopped: callers must not free its disk or remove its pod.
      if (!(await waitUntil(gone, KILL_WAIT_MS))) {
        throw new Error(
          `vm ${this.spec.name}: qemu process ${this.record.pid} still alive ` +
            `${KILL_WAIT_MS / 1000} s after SIGKILL`,
        );
      }
    }
    qmp?.close();
    this.#set("stopped", "stopped by the agent");
  }

  async ipAddress(signal: AbortSignal): Promise<string> {
    while (!signal.aborted) {
      const text = await Deno.readTextFile(this.deps.leasesFile).catch(() => "");
      const lease = leaseFor(parseDnsmasqLeases(text), this.record.mac);
      if (lease) return lease.ip;
      const neigh = await new Deno.Command("ip", {
        args: ["neigh", "show", "dev", this.deps.bridge],
        stdout: "piped",
        stderr: "null",
      }).output().catch(() => undefined);
      const ip = neigh && ipFromNeighbours(new TextDecoder().decode(neigh.stdout), this.record.mac);
      if (ip) return ip;
      if (this.#state === "error" || this.#state === "stopped") {
        throw new Error(`vm ${this.spec.name}: no IP address: VM ${this.#state} (${this.#reason})`);
      }
      const down = this.deps.networkProblem?.();
      if (down) throw new Error(`vm ${this.spec.name}: no IP address: ${down}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw signal.reason ?? new Error("aborted");
  }

  async destroy(): Promise<void> {
    if (pidAlive(this.record.pid)) await this.stop({ graceful: false, timeoutMs: 0 });
    this.#qmp?.close();
    const leaseProblem = await releaseLease({
      bridge: this.deps.bridge,
      leasesFile: this.deps.leasesFile,
      mac: this.record.mac,
    });
    if (leaseProblem) {
      this.deps.log.warn("cannot release DHCP lease", { vm: this.spec.name, reason: leaseProblem });
    }
    await removeTap(this.record.tap);
    await stopVirtiofsd(this.spec.workDir);
    await Deno.remove(this.spec.workDir, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  async #save() {
    await Deno.writeTextFile(recordPath(this.spec.workDir), JSON.stringify(this.record));
  }
}

/** How long a SIGKILLed QEMU may take to disappear before stop() reports a failure. */
const KILL_WAIT_MS = 30_000;

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
