// Small pieces every benchmark shares: the runtime flags `deno task start` gives the agent
// (so benchmarks run it as users do), the median, a process's resident memory, and the shape
// of one result in the report.

/** One figure of the report, beside the baseline measured in the same run. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  baselineWhat: string;
  target: string;
  met: boolean;
}

/** The flags between `run` and `main.ts` in deno.json's `start` task. */
export const START_FLAGS: string[] = (() => {
  const deno = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const words = String(deno.tasks.start).split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
})();

/** The middle value (the upper one of an even count). */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Resident memory of `pid` in bytes (/proc on Linux, ps elsewhere). */
export async function rssBytes(pid: number): Promise<number> {
  if (Deno.build.os === "linux") {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
  }
  const out = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
  })
    .output();
  return Number(new TextDecoder().decode(out.stdout).trim()) * 1024;
}
