// Marks of pulls in progress, so pruning (by this process or by `image prune` in another)
// never takes what a running pull is making: while a pull runs it keeps
// `pulling/<pid>.<random>.json` naming its manifest and the content identities of its
// files. A mark whose process is gone is stale and is removed; everything else a pull
// leaves behind (partial downloads, files no image record names yet) is then fair game.

import { posix } from "node:path";
import { pidAlive, readJson, tempPath, writeFileAtomic } from "./store_fs.ts";

export interface PullMark {
  pid: number;
  manifestDigest: string;
  /** Content identities of the files being made. */
  files: string[];
  since: string;
}

function marksDir(root: string): string {
  return posix.join(root, "pulling");
}

/** Marks a pull in progress; returns the function that clears the mark. */
export async function markPull(
  root: string,
  manifestDigest: string,
  files: string[],
): Promise<() => Promise<void>> {
  const dir = marksDir(root);
  await Deno.mkdir(dir, { recursive: true });
  const path = tempPath(dir, "pull").replace(/\.tmp$/, ".json");
  const mark: PullMark = { pid: Deno.pid, manifestDigest, files, since: new Date().toISOString() };
  await writeFileAtomic(path, JSON.stringify(mark) + "\n");
  return () => Deno.remove(path).catch(() => {});
}

/** Marks of pulls still running (stale marks of dead processes are removed on the way). */
export async function livePulls(root: string): Promise<PullMark[]> {
  const dir = marksDir(root);
  const live: PullMark[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /\.(\d+)\.[0-9a-f]+\.json$/.exec(e.name);
      if (!m) continue;
      const path = posix.join(dir, e.name);
      const mark = await readJson<PullMark>(path);
      if (mark && pidAlive(Number(m[1]))) live.push(mark);
      else if (!pidAlive(Number(m[1]))) await Deno.remove(path).catch(() => {});
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return live;
}
