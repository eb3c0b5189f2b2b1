// The VmBackend contract: what the runtime needs from a hypervisor. `vz` (macOS,
// Virtualization.framework) and `qemu` (Linux) implement it; nothing else knows either.

export type VmState = "created" | "starting" | "running" | "stopping" | "stopped" | "error";

/** Local files of a cached VM image, as the image store hands them over. */
export interface LocalVmImage {
  os: "linux" | "darwin";
  /** Raw disk image (read-only base; the backend clones it per VM). */
  disk: string;
  /** macOS auxiliary storage (cloned per VM, like the disk). */
  aux?: string;
  /** Linux direct kernel boot. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** macOS: VZMacHardwareModel / VZMacMachineIdentifier data representations. */
  hardwareModel?: Uint8Array;
  machineId?: Uint8Array;
}

/** A host directory shared into the guest (virtio-fs on vz; pod volumes use it). */
export interface VmShare {
  /** Unique per VM; the directory's name in the guest. */
  name: string;
  hostPath: string;
  readOnly: boolean;
}

export interface VmSpec {
  /** Unique and stable for the pod (e.g. its UID): names clones, taps, sockets. */
  id: string;
  /** For logs and messages, e.g. "default/runner-1". */
  name: string;
  cpus: number;
  memoryBytes: number;
  image: LocalVmImage;
  /** Directory the backend owns for this VM: clones, console log, sockets. */
  workDir: string;
  /** Locally administered unicast MAC; the backend makes one when absent. */
  mac?: string;
  /** Host directories to share into the guest; backends without sharing ignore them. */
  shares?: VmShare[];
}

export interface Vm {
  readonly id: string;
  readonly mac: string;
  readonly state: VmState;
  /** Why the VM is in `error` or stopped unexpectedly. */
  readonly reason?: string;
  start(): Promise<void>;
  /** Graceful asks the guest (ACPI/QMP) first and waits `timeoutMs`; then forces. */
  stop(opts: { graceful: boolean; timeoutMs: number }): Promise<void>;
  onStateChange(fn: (state: VmState, reason?: string) => void): void;
  /** The guest's IPv4 address, once it has one. */
  ipAddress(signal: AbortSignal): Promise<string>;
  /** Path of the serial console log (appended while the VM runs). */
  consoleLogPath(): string;
  /**
   * A unix socket carrying the serial console both ways (what attach connects to), when the
   * backend offers one; without it attach is read-only, from the console log.
   */
  consoleSocketPath?(): string | undefined;
  /** Stops if needed and removes everything the VM held (clones, tap, files). Idempotent. */
  destroy(): Promise<void>;
}

export interface VmBackend {
  readonly name: "vz" | "qemu";
  readonly maxRunning: number;
  /** Human-readable problems with `spec` for this host; empty when it can run. */
  validate(spec: VmSpec): string[];
  create(spec: VmSpec): Promise<Vm>;
  /** A VM left from an earlier agent (same id), running or not; undefined if none. */
  adopt?(spec: VmSpec): Promise<Vm | undefined>;
  /** Ids of VMs found running or leftover from an earlier agent. */
  leftovers(): Promise<string[]>;
  /** Stops and removes a leftover VM (process, network, clones) that no pod owns. */
  cleanup(id: string, workDir: string): Promise<void>;
  /** Stops background work; leaves VMs running. */
  close(): Promise<void>;
  /** Version string for node info, e.g. "qemu://7.2.22 (tcg)". */
  readonly version: string;
  /** This host's address as its guests reach it (their gateway), when there is one. */
  readonly hostAddress?: string;
  /** Why new guests cannot get on the network now (their DHCP server is down); else undefined. */
  networkProblem?(): string | undefined;
}
