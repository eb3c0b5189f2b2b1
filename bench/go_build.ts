// Builds one of the bench's Go programs (a folder of bench/ with go.mod, go.sum if it has
// modules, and main.go) with modules from the Go module proxy, into a cache directory outside
// the repository, rebuilt when its source changes. Needs `go` on PATH (tests/harness/setup.sh
// installs it).

import { createHash } from "node:crypto";

function cacheRoot(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`;
  return `${base}/macos-vz-kubelet/bench`;
}

/** Path of the built program `bench/<name>/`, building it first when needed. */
export async function goProgram(name: string, files: string[]): Promise<string> {
  const source = new URL(`./${name}/`, import.meta.url).pathname;
  const hash = createHash("sha256");
  for (const file of files) hash.update(await Deno.readFile(source + file));
  const bin = `${cacheRoot()}/${name}-${hash.digest("hex").slice(0, 16)}`;
  try {
    await Deno.stat(bin);
    return bin;
  } catch {
    // not built yet
  }
  await Deno.mkdir(cacheRoot(), { recursive: true });
  console.error(`bench: building bench/${name} (Go; modules from the Go module proxy)`);
  const out = await new Deno.Command("go", {
    args: ["build", "-trimpath", "-o", bin, "."],
    cwd: source,
    env: { GOFLAGS: "-mod=readonly", GOPATH: `${cacheRoot()}/gopath`, GOTOOLCHAIN: "local" },
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`building bench/${name} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return bin;
}
