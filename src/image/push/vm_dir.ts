// `image push REF --from DIR`: reads the push inputs from a VM made by another tool.
// - Tart: DIR/config.json with `hardwareModel` and `ecid` (the machine identifier), both
//   base64 data representations, next to disk.img and nvram.bin (the auxiliary storage).
// - macosvm: a JSON file (vm.json or any *.json in DIR, or the file itself) with
//   `hardwareModel`, `machineId` and `storage` entries of type "disk" and "aux", whose
//   file names are relative to that JSON file's directory.

import { posix } from "node:path";
import type { PushInputs } from "./push.ts";

async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v = JSON.parse(await Deno.readTextFile(path));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

async function mustExist(path: string, what: string): Promise<string> {
  try {
    if (!(await Deno.stat(path)).isFile) throw new Error("not a file");
  } catch (err) {
    throw new Error(`${what} ${path}: ${err instanceof Error ? err.message : err}`);
  }
  return path;
}

function tart(dir: string, c: Record<string, unknown>): Promise<PushInputs> | undefined {
  if (typeof c.hardwareModel !== "string" || typeof c.ecid !== "string") return undefined;
  if (c.os !== undefined && c.os !== "darwin") {
    throw new Error(
      `Tart VM ${dir}: os "${c.os}" is not supported (only macOS Tart VMs can be pushed)`,
    );
  }
  return (async () => ({
    os: "darwin",
    files: {
      disk: await mustExist(posix.join(dir, "disk.img"), "Tart VM disk"),
      aux: await mustExist(posix.join(dir, "nvram.bin"), "Tart VM auxiliary storage"),
    },
    darwin: { hardwareModelData: c.hardwareModel as string, machineIdData: c.ecid as string },
  }))();
}

function macosvm(jsonPath: string, c: Record<string, unknown>): Promise<PushInputs> | undefined {
  if (typeof c.hardwareModel !== "string" || typeof c.machineId !== "string") return undefined;
  if (!Array.isArray(c.storage)) return undefined;
  const dir = posix.dirname(jsonPath);
  const find = (type: string) => {
    const entry = (c.storage as { type?: unknown; file?: unknown }[])
      .find((s) => s?.type === type && typeof s.file === "string");
    if (!entry) throw new Error(`macosvm config ${jsonPath}: no storage entry of type "${type}"`);
    const file = entry.file as string;
    return posix.isAbsolute(file) ? file : posix.join(dir, file);
  };
  return (async () => ({
    os: "darwin",
    files: {
      disk: await mustExist(find("disk"), "macosvm disk"),
      aux: await mustExist(find("aux"), "macosvm auxiliary storage"),
    },
    darwin: { hardwareModelData: c.hardwareModel as string, machineIdData: c.machineId as string },
  }))();
}

/** Push inputs from a Tart or macosvm VM directory (or a macosvm JSON file). */
export async function readVmDir(path: string): Promise<PushInputs> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (err) {
    throw new Error(`--from ${path}: ${err instanceof Error ? err.message : err}`);
  }
  if (st.isFile) {
    const c = await readJsonObject(path);
    const r = c && macosvm(path, c);
    if (!r) {
      throw new Error(
        `--from ${path}: not a macosvm configuration (hardwareModel, machineId, storage)`,
      );
    }
    return await r;
  }
  const config = await readJsonObject(posix.join(path, "config.json"));
  const fromTart = config && tart(path, config);
  if (fromTart) return await fromTart;
  const candidates = ["vm.json", "config.json"];
  for await (const e of Deno.readDir(path)) {
    if (e.isFile && e.name.endsWith(".json") && !candidates.includes(e.name)) {
      candidates.push(e.name);
    }
  }
  for (const name of candidates) {
    const c = await readJsonObject(posix.join(path, name));
    const r = c && macosvm(posix.join(path, name), c);
    if (r) return await r;
  }
  throw new Error(
    `--from ${path}: neither a Tart VM (config.json with hardwareModel and ecid, disk.img, ` +
      `nvram.bin) nor a macosvm VM (a *.json with hardwareModel, machineId and storage)`,
  );
}
