// Starting a VM helper process: the same executable with `vm run --spec FILE` (or, running from
// source, `deno run -A main.ts vm run ...`), detached into its own session so that an agent
// stopped by launchd, a terminal's Ctrl-C or a crash does not take the VM with it. Its output is
// appended to helper.log through /bin/sh, since Deno.Command cannot redirect to a file.

import { fileURLToPath } from "node:url";

/** The program and arguments that run a helper for the spec file. */
export type HelperCommand = (specPath: string) => { cmd: string; args: string[] };

export const defaultHelperCommand: HelperCommand = (specPath) => {
  const run = ["vm", "run", "--spec", specPath];
  if (Deno.build.standalone) return { cmd: Deno.execPath(), args: run };
  const main = fileURLToPath(new URL("../../../main.ts", import.meta.url));
  return { cmd: Deno.execPath(), args: ["run", "-A", main, ...run] };
};

export interface LaunchedHelper {
  pid: number;
  /** Resolves when the process exits, while this agent still watches it. */
  exited: Promise<void>;
}

export function launchHelper(
  command: HelperCommand,
  specPath: string,
  logPath: string,
): LaunchedHelper {
  const { cmd, args } = command(specPath);
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$@" >>"$VZK_HELPER_LOG" 2>&1', "sh", cmd, ...args],
    env: { VZK_HELPER_LOG: logPath },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref(); // the agent may exit while its VMs run on
  return { pid: child.pid, exited: child.status.then(() => {}) };
}

/** The last lines of a helper's log, for an error message. */
export async function logTail(path: string, lines = 5): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trim().split("\n").slice(-lines).join(" | ");
}
