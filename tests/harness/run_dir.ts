// Per-run temporary directories of the test world. Each holds an owner.pid file; a directory
// whose owner is gone (the test process was interrupted: `deno test` exits on Ctrl-C without
// running any cleanup) is swept by the next run, unless KEEP_TEST_WORLD=1.

const OWNER_FILE = "owner.pid";

function tmpRoot(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

function ownerAlive(dir: string): boolean {
  let pid: number;
  try {
    pid = Number(Deno.readTextFileSync(`${dir}/${OWNER_FILE}`).trim());
  } catch {
    return true; // no owner file: not ours to judge (kept, or being created)
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return Deno.build.os !== "linux"; // without /proc, never assume the owner is gone
  }
}

/** Removes `${tmp}/${prefix}*` directories whose owning process has exited. */
export async function sweepStaleRunDirs(prefix: string): Promise<void> {
  if (Deno.env.get("KEEP_TEST_WORLD") === "1") return;
  try {
    for await (const entry of Deno.readDir(tmpRoot())) {
      if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
      const dir = `${tmpRoot()}/${entry.name}`;
      if (!ownerAlive(dir)) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  } catch {
    // unreadable tmp: nothing to sweep
  }
}

/** A fresh directory `${tmp}/${prefix}XXXX` owned by this process. */
export async function makeRunDir(prefix: string): Promise<string> {
  await sweepStaleRunDirs(prefix);
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.writeTextFile(`${dir}/${OWNER_FILE}`, `${Deno.pid}\n`);
  return dir;
}

/** Removes a run directory, or only its owner mark when KEEP_TEST_WORLD=1 keeps it. */
export async function releaseRunDir(dir: string): Promise<boolean> {
  if (Deno.env.get("KEEP_TEST_WORLD") === "1") {
    await Deno.remove(`${dir}/${OWNER_FILE}`).catch(() => {});
    return false;
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return true;
}
