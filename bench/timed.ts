// Timing whole processes for the benchmarks: GNU time's wall, user and system seconds and
// peak RSS (the largest single process of a pipeline), and a cold page cache before a run
// (sync, then drop caches; root only, otherwise the run is marked warm).

export interface Timed {
  seconds: number;
  /** User plus system CPU seconds of the command and its children. */
  cpuSeconds: number;
  /** Peak resident memory of the largest process, bytes. */
  rss: number;
  stdout: string;
}

/** Runs `cmd` under /usr/bin/time; throws with its stderr when it fails. */
export async function timed(cmd: string[]): Promise<Timed> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %U %S %M", ...cmd],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(err);
  if (!out.success || !m) throw new Error(`${cmd.join(" ")} failed: ${err.slice(-2000)}`);
  return {
    seconds: Number(m[1]),
    cpuSeconds: Number(m[2]) + Number(m[3]),
    rss: Number(m[4]) * 1024,
    stdout: new TextDecoder().decode(out.stdout),
  };
}

let warned = false;

/** Flushes dirty pages and drops the page cache; false (and one warning) when not allowed. */
export async function dropCaches(): Promise<boolean> {
  await new Deno.Command("sync").output();
  try {
    await Deno.writeTextFile("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    if (!warned) console.error("bench: cannot drop the page cache (not root?): runs are warm");
    warned = true;
    return false;
  }
}

/** Median of the figures of several runs, each figure on its own. */
export function medianRun(runs: Timed[]): Timed {
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return {
    seconds: mid(runs.map((r) => r.seconds)),
    cpuSeconds: mid(runs.map((r) => r.cpuSeconds)),
    rss: mid(runs.map((r) => r.rss)),
    stdout: runs[0]?.stdout ?? "",
  };
}
