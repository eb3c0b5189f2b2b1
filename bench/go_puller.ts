// Builds the bench's upstream-style Go puller (bench/go_puller: oras-go v2, klauspost/pgzip)
// with modules from the Go module proxy, into a cache directory outside the repository
// (rebuilt when its source changes). Needs `go` on PATH (tests/harness/setup.sh installs it).

import { createHash } from "node:crypto";

const SOURCE = new URL("./go_puller/", import.meta.url).pathname;

function cacheRoot(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`;
  return `${base}/macos-vz-kubelet/bench`;
}

/** Path of the built Go puller, building it first when needed. */
export async function goPuller(): Promise<string> {
  const hash = createHash("sha256");
  for (const name of ["go.mod", "go.sum", "main.go"]) {
    hash.update(await Deno.readFile(SOURCE + name));
  }
  const bin = `${cacheRoot()}/go_puller-${hash.digest("hex").slice(0, 16)}`;
  try {
    await Deno.stat(bin);
    return bin;
  } catch {
    // not built yet
  }
  await Deno.mkdir(cacheRoot(), { recursive: true });
  console.error("image bench: building the Go puller (modules from the Go module proxy)");
  const out = await new Deno.Command("go", {
    args: ["build", "-trimpath", "-o", bin, "."],
    cwd: SOURCE,
    env: { GOFLAGS: "-mod=readonly", GOPATH: `${cacheRoot()}/gopath`, GOTOOLCHAIN: "local" },
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`building the Go puller failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return bin;
}
