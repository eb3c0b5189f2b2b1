// A VM helper process as `macos-vz-kubelet vm run --spec FILE` runs it, but over a scripted
// shim (`--script JSON`, see scripted_vz_shim.ts), for the vz backend's tests on Linux: real
// processes, sockets, pids and signals; only the framework is pretend.

import { flagValue, readHelperSpec, runHelperProcess } from "../../src/vm/vz/helper_main.ts";
import { scriptedShim } from "./scripted_vz_shim.ts";

const spec = await readHelperSpec(flagValue(Deno.args, "--spec")!);
const script = JSON.parse(flagValue(Deno.args, "--script") ?? "{}");
Deno.exit(await runHelperProcess(spec, scriptedShim(script)));
