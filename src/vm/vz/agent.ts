// The vz backend as the agent starts it: the shim opened from where this binary keeps it
// (ffi/locate.ts) and the agent's settings. Throws with the reason when this Mac cannot run it
// (no shim, no entitlement, virtualization unsupported), which the node then reports.

import { openVzShim } from "../../../ffi/shim.ts";
import type { Logger } from "../../telemetry/log.ts";
import { createVzBackend, type VzBackend } from "./backend.ts";
import type { MachineIdPolicy } from "./problems.ts";

export interface VzAgentOptions {
  stateDir: string;
  maxVms: number;
  bridgeInterface?: string;
  machineId: MachineIdPolicy;
  allowImageCopy: boolean;
  hostCpus: number;
  hostMemoryBytes: number;
  log: Logger;
}

export async function openVzBackend(o: VzAgentOptions): Promise<VzBackend> {
  return await createVzBackend({
    stateDir: o.stateDir,
    maxRunning: o.maxVms,
    log: o.log,
    shim: openVzShim(),
    hostCpus: o.hostCpus,
    hostMemoryBytes: o.hostMemoryBytes,
    bridgeInterface: o.bridgeInterface,
    machineId: o.machineId,
    allowImageCopy: o.allowImageCopy,
  });
}
