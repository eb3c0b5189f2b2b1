// The small Linux test guest (tests/harness/guest/build.sh), built once into the cache.

import { cacheRoot } from "./k8s_binaries.ts";

export interface TestGuest {
  dir: string;
  kernel: string;
  initrd: string;
  disk: string;
  cmdline: string;
  /** Key login; may power the guest off (the agent's graceful shutdown). */
  rootUser: string;
  /** Key or password login; unprivileged. */
  user: string;
  password: string;
  privateKeyPath: string;
}

export async function testGuest(): Promise<TestGuest> {
  const script = new URL("./guest/build.sh", import.meta.url).pathname;
  const out = await new Deno.Command("bash", {
    args: [script, cacheRoot()],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`test guest build failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const dir = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
  return {
    dir,
    kernel: `${dir}/vmlinuz`,
    initrd: `${dir}/initrd.img`,
    disk: `${dir}/disk.img`,
    cmdline: (await Deno.readTextFile(`${dir}/cmdline`)).trim(),
    rootUser: "root",
    user: "vz",
    password: "vz",
    privateKeyPath: `${dir}/id_ed25519`,
  };
}
