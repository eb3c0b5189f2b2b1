// A VM's writable disk on the qemu backend: a qcow2 overlay whose backing file is the cached
// raw base image. Writes go to the overlay; the base stays unchanged (the pod's image lease
// keeps it from being pruned while the overlay lives).

import { posix } from "node:path";

export async function createQcow2Overlay(base: string, overlay: string): Promise<void> {
  const exists = await Deno.lstat(overlay).then(() => true, (err) => {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  });
  if (exists) throw new Error(`qcow2 overlay ${overlay}: already exists`);
  await Deno.mkdir(posix.dirname(overlay), { recursive: true });
  const out = await new Deno.Command("qemu-img", {
    args: ["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`qcow2 overlay of ${base}: qemu-img create failed: ${why}`);
  }
}
