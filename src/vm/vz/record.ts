// A vz VM's files in its work directory, its record (vm.json: what a later agent needs to adopt
// or clean it up), where its control socket lives, and whether its helper process is alive.

import { dirname } from "node:path";

export interface VzVmRecord {
  id: string;
  name: string;
  os: "darwin" | "linux";
  mac: string;
  /** macOS: the machine identifier (base64) the VM runs with. */
  machineIdentifier?: string;
  socketPath: string;
  /** The helper process, once started. */
  pid?: number;
  clone: "clonefile" | "copy";
}

export function vmPaths(workDir: string) {
  return {
    disk: `${workDir}/disk.img`,
    aux: `${workDir}/aux.img`,
    consoleLog: `${workDir}/console.log`,
    record: `${workDir}/vm.json`,
    helperSpec: `${workDir}/helper.json`,
    helperLog: `${workDir}/helper.log`,
    exitFile: `${workDir}/exit.json`,
  };
}

/** sun_path holds 104 bytes on macOS (108 on Linux), the NUL included. */
export const MAX_SOCKET_PATH = 100;

/**
 * The control socket: in the work directory when the path fits in a unix socket address, else
 * in a private per-user directory under `tmpRoot` (long user names and cache paths overflow).
 */
export function controlSocketPath(
  workDir: string,
  id: string,
  tmpRoot: string,
  uid: number,
): string {
  const inWorkDir = `${workDir}/control.sock`;
  if (new TextEncoder().encode(inWorkDir).length <= MAX_SOCKET_PATH) return inWorkDir;
  const safe = id.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
  return `${tmpRoot}/vzk-${uid}/${safe}.sock`;
}

/** Makes the directory of a socket outside the work directory, private to this user. */
export async function ensureSocketDir(socketPath: string, workDir: string): Promise<void> {
  const dir = dirname(socketPath);
  if (dir === workDir) return;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await Deno.lstat(dir);
  const uid = Deno.uid();
  if (!st.isDirectory || (uid !== null && st.uid !== uid) || ((st.mode ?? 0) & 0o077) !== 0) {
    throw new Error(
      `socket directory ${dir} is not a private directory of this user (owner ${st.uid}, ` +
        `mode ${((st.mode ?? 0) & 0o777).toString(8)}); remove it`,
    );
  }
}

export async function readRecord(workDir: string): Promise<VzVmRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(vmPaths(workDir).record)) as VzVmRecord;
  } catch {
    return undefined;
  }
}

export async function writeRecord(workDir: string, record: VzVmRecord): Promise<void> {
  await Deno.writeTextFile(vmPaths(workDir).record, JSON.stringify(record));
}

/**
 * `ps -ww -o stat=,command= -p PID` output -> whether that process is alive (not a zombie) and is
 * this VM's helper (its command line names the VM's spec file: a reused pid is not ours).
 */
export function psShowsHelper(psOutput: string, specPath: string): boolean {
  const line = psOutput.split("\n").map((l) => l.trim()).find((l) => l);
  if (!line) return false;
  const [stat, ...command] = line.split(/\s+/);
  return !stat.startsWith("Z") && command.join(" ").includes(specPath);
}

/** Whether the helper process `pid` of the VM whose spec file is `specPath` runs. */
export async function helperAlive(pid: number | undefined, specPath: string): Promise<boolean> {
  if (!pid) return false;
  try {
    const out = await new Deno.Command("ps", {
      // -ww: the whole command line even when not writing to a terminal (BSD ps truncates).
      args: ["-ww", "-o", "stat=,command=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    return psShowsHelper(new TextDecoder().decode(out.stdout), specPath);
  } catch {
    return false;
  }
}
