// Guest I/O of the VM container over its SSH session: exec with the kubelet API's
// streams (the caller's terminal size opens the pty), and CPU/memory samples for stats.

import type { SshIO, SshSession } from "../guest/ssh.ts";
import { type GuestSample, nanoCores, sampleLinuxGuest } from "../guest/stats.ts";
import type { ContainerStats, ExecIO } from "./types.ts";

/** The previous sample of a guest, for its CPU rate. */
export interface GuestStatsState {
  last?: GuestSample;
}

/** Runs `run` over the guest's SSH session with the kubelet API's streams. */
async function withGuestIO(
  session: () => Promise<SshSession>,
  env: () => [string, string][],
  io: ExecIO,
  run: (ssh: SshSession, sio: SshIO) => Promise<number>,
): Promise<number> {
  const ssh = await session();
  // The caller's terminal size comes first on the resize stream: open the pty with it.
  let size = { rows: 24, cols: 80 };
  let resize = io.resize;
  if (io.tty && io.resize) {
    const reader = io.resize.getReader();
    const first = await Promise.race([
      reader.read(),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000)),
    ]);
    if (first?.value) size = { rows: first.value.height, cols: first.value.width };
    reader.releaseLock();
    resize = first?.done ? undefined : io.resize;
  }
  const out = io.stdout?.getWriter();
  const err = io.stderr?.getWriter();
  try {
    return await run(ssh, {
      env: Object.fromEntries(env()),
      stdin: io.stdin,
      stdout: out ? (d) => out.write(d) : undefined,
      stderr: err ? (d) => err.write(d) : undefined,
      tty: io.tty ? size : undefined,
      resize,
      signal: io.signal,
    });
  } finally {
    out?.releaseLock();
    err?.releaseLock();
  }
}

export function guestExec(
  session: () => Promise<SshSession>,
  env: () => [string, string][],
  command: string[],
  io: ExecIO,
): Promise<number> {
  return withGuestIO(session, env, io, (ssh, sio) => ssh.exec(command, sio));
}

/** One CPU/memory sample of a Linux guest, with the CPU rate since the previous one. */
export async function guestStats(
  ssh: SshSession,
  state: GuestStatsState,
): Promise<Omit<ContainerStats, "name"> | undefined> {
  const sample = await sampleLinuxGuest(ssh);
  if (!sample) return undefined;
  const cores = nanoCores(state.last, sample);
  state.last = sample;
  return {
    cpuUsageCoreNanoSeconds: sample.cpuNanoSeconds,
    cpuUsageNanoCores: cores,
    memoryWorkingSetBytes: sample.memoryUsedBytes,
    memoryUsageBytes: sample.memoryUsedBytes,
  };
}
