// One vz VM as the runtime sees it (the Vm contract): its helper process started on start(),
// its state followed over the control socket, stop as request-stop, then a forced stop, then
// killing the helper, and destroy() removing its clones. A later agent re-attaches to the
// helper (attach), as the qemu backend re-attaches to QEMU's monitor.

import type { Logger } from "../../telemetry/log.ts";
import type { Vm, VmSpec, VmState } from "../types.ts";
import { connectHelper, connectHelperWhenUp, type HelperClient } from "./control_client.ts";
import type { VzNetworkChoice } from "./description.ts";
import { discoverGuestIp, type GuestIpSources } from "./ip.ts";
import { type HelperCommand, launchHelper, logTail } from "./launch.ts";
import { HelperError, type HelperStatus } from "./protocol.ts";
import { helperAlive, vmPaths, type VzVmRecord, writeRecord } from "./record.ts";

export interface VzVmDeps {
  log: Logger;
  helperCommand: HelperCommand;
  network: VzNetworkChoice;
  ipSources: GuestIpSources;
  /** How long a SIGKILLed helper may take to go before stop() fails. */
  killWaitMs?: number;
  /** Told when a VM is destroyed (the backend stops tracking it). */
  forget?: (vm: VzVm) => void;
}

/** What a VM object needs of its spec (a leftover VM has no more than this). */
export type VzVmIdentity = Pick<VmSpec, "id" | "name" | "workDir">;

/** The pod's reason when the framework refuses another VM: the same wait as for a slot. */
export const VM_LIMIT_REASON = "WaitingForVMSlot";

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** The helper's view of the VM -> the runtime's. */
export function vmStateOf(s: HelperStatus): VmState | undefined {
  if (s.ended) return s.state === "stopped" ? "stopped" : "error";
  switch (s.state) {
    case "starting":
    case "resuming":
    case "restoring":
      return "starting";
    case "running":
    case "paused":
    case "pausing":
    case "saving":
      return "running";
    case "stopping":
    case "stopped":
    case "error":
      return "stopping"; // ending: the helper settles it
    default:
      return undefined;
  }
}

export class VzVm implements Vm {
  #state: VmState = "created";
  #reason?: string;
  #listeners: ((s: VmState, reason?: string) => void)[] = [];
  #client?: HelperClient;
  #stopping = false;
  #detached = false;
  /** start() is running: an ending now is reported by its rejection, not to listeners. */
  #starting = false;

  constructor(
    readonly spec: VzVmIdentity,
    readonly record: VzVmRecord,
    readonly deps: VzVmDeps,
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
  get paths() {
    return vmPaths(this.spec.workDir);
  }

  onStateChange(fn: (s: VmState, reason?: string) => void) {
    this.#listeners.push(fn);
  }

  consoleLogPath() {
    return this.paths.consoleLog;
  }

  #set(state: VmState, reason?: string) {
    if (this.#state === state && this.#reason === reason) return;
    // An ended VM changes only by starting again: the runtime hears of each end once.
    const ended = this.#state === "stopped" || this.#state === "error";
    if (ended && state !== "starting") return;
    this.#state = state;
    this.#reason = reason;
    this.deps.log.info("vm state", { vm: this.spec.name, state, reason });
    if (this.#starting && (state === "error" || state === "stopped")) return;
    for (const l of this.#listeners) l(state, reason);
  }

  #follow(client: HelperClient) {
    this.#client = client;
    client.onStatus((s) => {
      const state = vmStateOf(s);
      // While the agent stops the VM, only its ending is news (not "still running").
      const stale = this.#stopping && (state === "running" || state === "starting");
      if (state && !stale) this.#set(state, s.reason);
    });
    client.closed.then(() => this.#lost(client));
  }

  /** The control connection ended: the VM ended, or its helper was killed or crashed. */
  async #lost(client: HelperClient) {
    if (this.#detached || client !== this.#client) return;
    const last = client.last;
    if (last?.ended) return; // its final status arrived
    const exit = await Deno.readTextFile(this.paths.exitFile).then(JSON.parse).catch(() => null);
    if (exit?.ended) {
      this.#set(exit.state === "stopped" ? "stopped" : "error", exit.reason);
    } else if (this.#stopping) {
      this.#set("stopped", "stopped by the agent");
    } else {
      this.#set(
        "error",
        `the VM's helper process ${this.record.pid} ended without a shutdown: killed or ` +
          `crashed (${this.paths.helperLog}: ${await logTail(this.paths.helperLog, 3)})`,
      );
    }
  }

  async start(): Promise<void> {
    if (this.#state === "running") return;
    this.#stopping = false;
    this.#set("starting");
    this.#starting = true;
    const { helperSpec, helperLog, exitFile } = this.paths;
    try {
      await Deno.remove(exitFile).catch(() => {});
      const helper = launchHelper(this.deps.helperCommand, helperSpec, helperLog);
      this.record.pid = helper.pid;
      await writeRecord(this.spec.workDir, this.record);
      let exited = false;
      helper.exited.then(() => exited = true);
      const client = await connectHelperWhenUp(this.record.socketPath, 60_000, () => exited)
        .catch(async (err) => {
          throw new Error(
            exited ? `the helper exited at once: ${await logTail(helperLog)}` : errText(err),
          );
        });
      this.#follow(client);
      const s = await client.request("start");
      if (s.ended) throw new Error(s.reason ?? "the VM ended while starting");
      this.#set(vmStateOf(s) ?? "running", s.reason);
    } catch (err) {
      const why = errText(err);
      if (err instanceof HelperError && err.code === "limit-exceeded") {
        const message = `vm ${this.spec.name}: Virtualization.framework refused to start ` +
          `another VM (VZErrorVirtualMachineLimitExceeded): this Mac already runs its limit of ` +
          `2 macOS VMs, counting VMs outside this agent (Tart, UTM, ...); a known macOS bug can ` +
          `also keep the count stuck until the host reboots. (${why})`;
        this.#set("error", message);
        throw Object.assign(new Error(message), { reason: VM_LIMIT_REASON });
      }
      this.#set("error", `start: ${why}`);
      throw new Error(`vm ${this.spec.name}: start: ${why}`);
    } finally {
      this.#starting = false;
    }
  }

  /** Re-attaches to a running helper (adoption); throws when there is none for this VM. */
  async attach(): Promise<void> {
    const client = await connectHelper(this.record.socketPath);
    const s = await client.request("status", 10_000).catch((err) => {
      client.close();
      throw err;
    });
    if (s.id !== this.spec.id) {
      client.close();
      throw new Error(`vm ${this.spec.name}: the socket belongs to VM ${s.id}`);
    }
    this.#follow(client);
    this.#set(vmStateOf(s) ?? "created", s.reason);
  }

  /** Lets go of the helper and leaves the VM running for another agent. */
  detach(): void {
    this.#detached = true;
    this.#client?.close();
  }

  #helperGone = async () => !(await helperAlive(this.record.pid, this.paths.helperSpec));

  #ended = () => this.#client?.last?.ended === true;

  async stop(opts: { graceful: boolean; timeoutMs: number }): Promise<void> {
    if (await this.#helperGone()) {
      if (this.#state !== "created") this.#set("stopped", "stopped by the agent");
      return;
    }
    this.#stopping = true;
    this.#set("stopping");
    const client = this.#client;
    if (opts.graceful && client && !this.#ended()) {
      const asked = await client.request("request-stop", 10_000).then(() => true, () => false);
      if (asked) await waitUntil(this.#ended, opts.timeoutMs);
    }
    if (client && !this.#ended()) await client.request("stop", 30_000).catch(() => {});
    if (!(await waitUntil(this.#helperGone, 10_000)) && this.record.pid) {
      try {
        Deno.kill(this.record.pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
      const waitMs = this.deps.killWaitMs ?? 30_000;
      if (!(await waitUntil(this.#helperGone, waitMs))) {
        throw new Error(
          `vm ${this.spec.name}: helper process ${this.record.pid} still alive ` +
            `${waitMs / 1000} s after SIGKILL`,
        );
      }
    }
    client?.close();
    this.#set("stopped", this.#client?.last?.reason ?? "stopped by the agent");
  }

  ipAddress(signal: AbortSignal): Promise<string> {
    return discoverGuestIp({
      mac: this.record.mac,
      network: this.deps.network,
      sources: this.deps.ipSources,
      signal,
      dead: () =>
        this.#state === "error" || this.#state === "stopped"
          ? `VM ${this.#state} (${this.#reason})`
          : undefined,
      onCaptureFailed: (why) =>
        this.deps.log.warn("no packet capture for the guest's IP; using ARP only", {
          vm: this.spec.name,
          reason: why,
        }),
    }).catch((err) => {
      throw new Error(`vm ${this.spec.name}: ${errText(err)}`);
    });
  }

  async destroy(): Promise<void> {
    if (!(await this.#helperGone())) await this.stop({ graceful: false, timeoutMs: 0 });
    this.#client?.close();
    if (!this.record.socketPath.startsWith(`${this.spec.workDir}/`)) {
      await Deno.remove(this.record.socketPath).catch(() => {});
    }
    await Deno.remove(this.spec.workDir, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    this.deps.forget?.(this);
  }
}
