// A scripted VzShim for Linux tests: VMs that start, stop when asked (or not), power off by
// themselves, crash, or are refused by a "framework" that already runs too many, with the same
// event order the real shim produces (a state change, then the delegate call). Host answers
// and clonefile results are scripted too.

import {
  SHIM_ERROR_DOMAIN,
  SHIM_ERROR_INVALID_STATE,
  ShimError,
  type VzErrorInfo,
  type VzEvent,
  type VzHostInfo,
  type VzMachineState,
  type VzShim,
  type VzVmHandle,
} from "../../ffi/types.ts";

export interface VmScript {
  /** start() fails with this error (e.g. VZErrorDomain 6: too many VMs). */
  startError?: VzErrorInfo;
  /** createVm() fails with this error. */
  createError?: VzErrorInfo;
  /** The guest shuts down this long after requestStop(); absent: it ignores the request. */
  shutdownAfterMs?: number;
  /** The guest powers off by itself this long after starting. */
  powerOffAfterMs?: number;
  /** The VM fails (didStopWithError) this long after starting. */
  crashAfterMs?: number;
  /** Only a state change, no delegate call, when it powers off (the helper must settle). */
  silentPowerOff?: boolean;
}

export interface ShimScript extends VmScript {
  host?: Partial<VzHostInfo>;
  hardwareModelSupported?: boolean;
  /** clonefile's result: 0 (default) or -errno; "copy" really copies the file (as APFS would). */
  clonefile?: number | "copy";
  /** validateConfiguration() fails with this error. */
  validateError?: VzErrorInfo;
}

export const SCRIPTED_HOST: VzHostInfo = {
  abi: 1,
  supported: true,
  macOSVersion: "15.1.1",
  minCpus: 1,
  maxCpus: 10,
  minMemoryBytes: 128 * 2 ** 20,
  maxMemoryBytes: 64 * 2 ** 30,
  bridgedInterfaces: [{ identifier: "en0", name: "Ethernet" }],
};

export class ScriptedVm implements VzVmHandle {
  #state: VzMachineState = "stopped";
  #queue: VzEvent[] = [];
  #wake?: () => void;
  #timers: ReturnType<typeof setTimeout>[] = [];
  released = false;
  readonly calls: string[] = [];

  constructor(readonly description: unknown, readonly script: VmScript) {}

  #emit(e: VzEvent) {
    if (this.released) return;
    if (e.type === "state") this.#state = e.state;
    this.#queue.push(e);
    this.#wake?.();
  }
  #later(ms: number, fn: () => void) {
    this.#timers.push(setTimeout(fn, ms));
  }
  #invalid(what: string): never {
    throw new ShimError({
      domain: SHIM_ERROR_DOMAIN,
      code: SHIM_ERROR_INVALID_STATE,
      message: `cannot ${what} a VM in state ${this.#state}`,
    });
  }

  /** The guest powers off (as from inside). */
  powerOff() {
    this.#emit({ type: "state", state: "stopped" });
    if (!this.script.silentPowerOff) this.#emit({ type: "guest-stopped" });
  }
  /** The framework reports the VM failed. */
  crash() {
    this.#emit({ type: "state", state: "error" });
    this.#emit({
      type: "stopped-with-error",
      error: {
        domain: "VZErrorDomain",
        code: 1,
        message: "The virtual machine stopped unexpectedly.",
      },
    });
  }

  async start() {
    this.calls.push("start");
    if (this.#state !== "stopped") this.#invalid("start");
    if (this.script.startError) throw new ShimError(this.script.startError);
    this.#emit({ type: "state", state: "starting" });
    await new Promise((r) => setTimeout(r, 5));
    this.#emit({ type: "state", state: "running" });
    const s = this.script;
    if (s.powerOffAfterMs !== undefined) this.#later(s.powerOffAfterMs, () => this.powerOff());
    if (s.crashAfterMs !== undefined) this.#later(s.crashAfterMs, () => this.crash());
  }
  requestStop() {
    this.calls.push("request-stop");
    if (this.#state !== "running") this.#invalid("request a stop of");
    if (this.script.shutdownAfterMs !== undefined) {
      this.#later(this.script.shutdownAfterMs, () => this.powerOff());
    }
    return Promise.resolve();
  }
  async stop() {
    this.calls.push("stop");
    if (this.#state === "stopped" || this.#state === "error") this.#invalid("stop");
    this.#emit({ type: "state", state: "stopping" });
    await new Promise((r) => setTimeout(r, 5));
    this.#emit({ type: "state", state: "stopped" }); // a forced stop has no delegate call
  }
  pause() {
    this.calls.push("pause");
    if (this.#state !== "running") this.#invalid("pause");
    this.#emit({ type: "state", state: "paused" });
    return Promise.resolve();
  }
  resume() {
    this.calls.push("resume");
    if (this.#state !== "paused") this.#invalid("resume");
    this.#emit({ type: "state", state: "running" });
    return Promise.resolve();
  }
  state(): VzMachineState {
    return this.#state;
  }
  async nextEvent(timeoutMs: number): Promise<VzEvent | undefined> {
    if (this.released) return undefined;
    if (!this.#queue.length) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, timeoutMs);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.#wake = undefined;
    }
    return this.#queue.shift();
  }
  release() {
    this.released = true;
    this.#wake?.();
    for (const t of this.#timers) clearTimeout(t);
    return Promise.resolve();
  }
}

export interface ScriptedShim extends VzShim {
  readonly vms: ScriptedVm[];
  readonly validated: unknown[];
  readonly clones: [string, string][];
}

export function scriptedShim(script: ShimScript = {}): ScriptedShim {
  const vms: ScriptedVm[] = [];
  const validated: unknown[] = [];
  const clones: [string, string][] = [];
  let ids = 0;
  return {
    vms,
    validated,
    clones,
    hostInfo: () => ({ ...SCRIPTED_HOST, ...script.host }),
    hardwareModelSupported: () => script.hardwareModelSupported ?? true,
    newMachineIdentifier: () => btoa(`machine-id-${++ids}`),
    validateConfiguration(json: string) {
      validated.push(JSON.parse(json));
      if (script.validateError) throw new ShimError(script.validateError);
    },
    createVm(json: string) {
      if (script.createError) return Promise.reject(new ShimError(script.createError));
      const vm = new ScriptedVm(JSON.parse(json), script);
      vms.push(vm);
      return Promise.resolve(vm);
    },
    clonefile(src: string, dst: string) {
      clones.push([src, dst]);
      const r = script.clonefile ?? "copy";
      if (r === "copy") {
        try {
          Deno.statSync(dst);
          return -17; // EEXIST, as clonefile(2)
        } catch { /* free */ }
        try {
          Deno.copyFileSync(src, dst);
        } catch {
          return -2; // ENOENT
        }
        return 0;
      }
      return r;
    },
  };
}
