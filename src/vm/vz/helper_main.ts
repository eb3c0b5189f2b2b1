// `macos-vz-kubelet vm run --spec FILE`: the VM helper process the vz backend starts, one per
// VM (same executable). It loads the shim, runs the helper (helper.ts) until the VM ends, and
// turns SIGTERM into a guest shutdown. Not for people: the backend writes the spec file.
// `vm host` is for people: it loads the shim and prints what this Mac allows.

import type { VzShim } from "../../../ffi/types.ts";
import { startVmHelper } from "./helper.ts";
import type { HelperSpec } from "./protocol.ts";

/** How long SIGTERM gives the guest to shut down before the VM is stopped. */
export const SHUTDOWN_GRACE_MS = 30_000;

const USAGE =
  `usage: macos-vz-kubelet vm run --spec FILE   one VM's helper (started by the vz backend)
       macos-vz-kubelet vm host              load the shim, print what this Mac allows`;

/** The value of `--name VALUE` / `--name=VALUE`, or undefined. */
export function flagValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

export async function readHelperSpec(path: string): Promise<HelperSpec> {
  let spec: HelperSpec;
  try {
    spec = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new Error(`vm run: cannot read ${path}: ${err instanceof Error ? err.message : err}`);
  }
  for (const k of ["id", "name", "socketPath", "consoleLog", "exitFile"] as const) {
    if (typeof spec[k] !== "string") throw new Error(`vm run: ${path}: "${k}" missing`);
  }
  return spec;
}

/** Runs one helper process to its end; returns its exit code. */
export async function runHelperProcess(spec: HelperSpec, shim: VzShim): Promise<number> {
  const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);
  const helper = await startVmHelper({ spec, shim, log });
  const onTerm = () => void helper.shutdown(SHUTDOWN_GRACE_MS);
  const onHup = () => {}; // no terminal to lose: keep running
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onTerm);
  Deno.addSignalListener("SIGHUP", onHup);
  try {
    return await helper.done;
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onTerm);
    Deno.removeSignalListener("SIGHUP", onHup);
  }
}

/** `vm host`: the shim's path and host facts as JSON; fails when the shim cannot load. */
async function hostCommand(): Promise<number> {
  try {
    const [{ locateShim }, { openVzShim }] = await Promise.all([
      import("../../../ffi/locate.ts"),
      import("../../../ffi/shim.ts"),
    ]);
    const path = locateShim();
    console.log(JSON.stringify({ shim: path, ...openVzShim(path).hostInfo() }, null, 2));
    return 0;
  } catch (err) {
    console.error(`vm host: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
}

export async function vmCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "host") return await hostCommand();
  const specPath = flagValue(rest, "--spec");
  if (sub !== "run" || !specPath) {
    console.error(USAGE);
    return 2;
  }
  try {
    const spec = await readHelperSpec(specPath);
    const { openVzShim } = await import("../../../ffi/shim.ts");
    return await runHelperProcess(spec, openVzShim());
  } catch (err) {
    console.error(`vm run: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
}
