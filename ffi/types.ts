// What the shim offers, as TypeScript sees it: the VzShim interface (implemented over
// Deno.dlopen by shim.ts, and by scripted shims in tests), host facts, VM events and the shim's
// errors. Only src/vm/vz uses these.

/** vzk_host_info: what this Mac's Virtualization framework allows. */
export interface VzHostInfo {
  abi: number;
  /** VZVirtualMachine.isSupported: false on hosts that cannot virtualize (e.g. hosted CI). */
  supported: boolean;
  /** e.g. "15.1.1". */
  macOSVersion: string;
  minCpus: number;
  maxCpus: number;
  minMemoryBytes: number;
  maxMemoryBytes: number;
  /** Interfaces a VM can be bridged onto; empty without com.apple.vm.networking. */
  bridgedInterfaces: { identifier: string; name: string }[];
}

/** VZVirtualMachineState by name, as the shim reports it. */
export type VzMachineState =
  | "stopped"
  | "running"
  | "paused"
  | "error"
  | "starting"
  | "pausing"
  | "resuming"
  | "stopping"
  | "saving"
  | "restoring"
  | "unknown";

export interface VzErrorInfo {
  domain: string;
  code: number;
  message: string;
}

/** One entry of the shim's per-VM event queue. */
export type VzEvent =
  | { type: "state"; state: VzMachineState }
  | { type: "guest-stopped" }
  | { type: "stopped-with-error"; error: VzErrorInfo }
  | { type: "network-disconnected"; error: VzErrorInfo };

/** Error domains and codes the agent reacts to (VZErrorDomain's are Apple's VZErrorCode). */
export const VZ_ERROR_DOMAIN = "VZErrorDomain";
export const VZ_ERROR_INVALID_CONFIGURATION = 2;
export const VZ_ERROR_LIMIT_EXCEEDED = 6;
export const SHIM_ERROR_DOMAIN = "vzshim";
export const SHIM_ERROR_INVALID_STATE = 4;

/** A failure the shim reported: the framework's NSError (or the shim's own) as data. */
export class ShimError extends Error {
  readonly domain: string;
  readonly code: number;
  constructor(info: VzErrorInfo) {
    super(info.message);
    this.name = "ShimError";
    this.domain = info.domain;
    this.code = info.code;
  }
  is(domain: string, code: number): boolean {
    return this.domain === domain && this.code === code;
  }
}

/** One VM held by the shim. Calls reject with ShimError. */
export interface VzVmHandle {
  start(): Promise<void>;
  /** Asks the guest to shut down; resolves once asked. */
  requestStop(): Promise<void>;
  /** Stops at once. */
  stop(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** The last state the shim observed. */
  state(): VzMachineState;
  /** The next queued event, waiting at most `timeoutMs`; undefined if none came. */
  nextEvent(timeoutMs: number): Promise<VzEvent | undefined>;
  /** Waits for calls in flight, then drops the VM. Later calls reject. Idempotent. */
  release(): Promise<void>;
}

/** libvzshim.dylib's functions. */
export interface VzShim {
  hostInfo(): VzHostInfo;
  /** true/false; undefined when the data is not a hardware model at all. */
  hardwareModelSupported(hardwareModelBase64: string): boolean | undefined;
  /** A fresh VZMacMachineIdentifier data representation, base64. */
  newMachineIdentifier(): string;
  /** Builds and validates the configuration of a description (JSON); throws ShimError. */
  validateConfiguration(descriptionJson: string): void;
  /** Creates a (stopped) VM from a description; rejects with ShimError. */
  createVm(descriptionJson: string): Promise<VzVmHandle>;
  /** clonefile(src, dst, 0): 0 or -errno. */
  clonefile(src: string, dst: string): number;
}
