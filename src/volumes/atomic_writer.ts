// Writes a volume's files the way the kubelet's atomic writer does, so a reader never sees a
// half-updated volume: the payload goes into a fresh `..<timestamp>` directory, the `..data`
// symlink is swapped to it with one rename, and each top-level name is a symlink through
// `..data`. An update whose payload is unchanged touches nothing; the old directory goes.

import { posix } from "node:path";

export interface PayloadFile {
  /** Relative path inside the volume (may have directories, never `..`). */
  path: string;
  data: Uint8Array;
  /** File mode, e.g. 0o644. */
  mode: number;
}

const DATA = "..data";
const enc = new TextEncoder();

export function textFile(path: string, text: string, mode: number): PayloadFile {
  return { path, data: enc.encode(text), mode };
}

async function exists(p: string): Promise<boolean> {
  return await Deno.lstat(p).then(() => true, () => false);
}

function stamp(): string {
  // `..2026_12_01_10_00_00.123456789`, as the kubelet names them (unique even within a second).
  const d = new Date();
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const nanos = `${pad(d.getUTCMilliseconds(), 3)}${
    crypto.getRandomValues(new Uint32Array(1))[0] % 1e6
  }`
    .padEnd(9, "0").slice(0, 9);
  return `..${d.getUTCFullYear()}_${pad(d.getUTCMonth() + 1)}_${pad(d.getUTCDate())}_` +
    `${pad(d.getUTCHours())}_${pad(d.getUTCMinutes())}_${pad(d.getUTCSeconds())}.${nanos}`;
}

/** Whether the volume at `dir` already holds exactly `files` (content and modes). */
async function unchanged(dir: string, files: PayloadFile[]): Promise<boolean> {
  const current = await Deno.readLink(`${dir}/${DATA}`).catch(() => undefined);
  if (!current) return false;
  const base = `${dir}/${current}`;
  let count = 0;
  for await (const _ of walkFiles(base)) count++;
  if (count !== files.length) return false;
  for (const f of files) {
    const info = await Deno.stat(`${base}/${f.path}`).catch(() => undefined);
    if (!info?.isFile || (info.mode ?? 0) % 0o1000 !== f.mode % 0o1000) return false;
    const data = await Deno.readFile(`${base}/${f.path}`);
    if (data.length !== f.data.length || data.some((b, i) => b !== f.data[i])) return false;
  }
  return true;
}

async function* walkFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walkFiles(p);
    else yield p;
  }
}

/**
 * Makes `dir` hold exactly `files`. Returns whether anything changed. Owner and group stay
 * the agent's (the kubelet's fsGroup handling is not done here).
 */
export async function writeAtomically(dir: string, files: PayloadFile[]): Promise<boolean> {
  for (const f of files) {
    if (f.path.startsWith("/") || f.path.split("/").includes("..") || f.path === "") {
      throw new Error(`volume file path "${f.path}" must be relative and stay inside the volume`);
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  if (await unchanged(dir, files)) return false;
  const name = stamp();
  const target = `${dir}/${name}`;
  await Deno.mkdir(target, { mode: 0o755 });
  for (const f of files) {
    const p = `${target}/${f.path}`;
    await Deno.mkdir(posix.dirname(p), { recursive: true, mode: 0o755 });
    await Deno.writeFile(p, f.data, { mode: f.mode });
    await Deno.chmod(p, f.mode); // the umask must not narrow what the pod asked for
  }
  const old = await Deno.readLink(`${dir}/${DATA}`).catch(() => undefined);
  const tmp = `${dir}/${DATA}_tmp`;
  await Deno.remove(tmp).catch(() => {});
  await Deno.symlink(name, tmp);
  await Deno.rename(tmp, `${dir}/${DATA}`);
  // Top-level names point through ..data; names no longer in the payload go.
  const top = new Set(files.map((f) => f.path.split("/")[0]));
  for (const t of top) {
    if (!(await exists(`${dir}/${t}`))) await Deno.symlink(`${DATA}/${t}`, `${dir}/${t}`);
  }
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith("..") || top.has(e.name)) continue;
    if (e.isSymlink) await Deno.remove(`${dir}/${e.name}`);
  }
  if (old && old !== name) await Deno.remove(`${dir}/${old}`, { recursive: true }).catch(() => {});
  return true;
}
