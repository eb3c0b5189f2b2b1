// `deno task demo` as a user stops it: Ctrl-C in its terminal, i.e. SIGINT to the whole
// process group (the demo, the dev cluster, the agent). It tears down once, cleanly, and leaves
// no QEMU VM, tap, bridge or dockerd of its own behind.

import assert from "node:assert/strict";
import { eventually } from "../support/world.ts";
import { linkExists } from "../../src/network/linux_bridge.ts";

const REPO = new URL("../..", import.meta.url).pathname;

function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (cmd.includes(text) && !/\) Z /.test(stat)) out.push(`${e.name}: ${cmd.slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

Deno.test({
  name: "demo: Ctrl-C (SIGINT to the process group) tears everything down once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vzk-demo-" });
    // setsid: the demo leads a process group of its own, as in a terminal.
    const demo = new Deno.Command("setsid", {
      args: ["./deno.sh", "task", "demo"],
      cwd: REPO,
      env: { DEV_CLUSTER_DIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out: string[] = [];
    const sink = (s: ReadableStream<Uint8Array>) =>
      s.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void out.push(t) }),
      );
    const reading = Promise.all([sink(demo.stdout), sink(demo.stderr)]);
    try {
      await eventually(
        "the demo pods ready",
        () => out.join("").includes("runs in a QEMU VM"),
        600_000,
        500,
      )
        .catch((err) => {
          throw new Error(`${err.message}\n${out.join("").slice(-3000)}`);
        });
      assert.ok(await linkExists("vzkdemo0"), "the demo's bridge is up");
      assert.ok(processesMentioning(`${dir}/demo-cache/vms/`).length > 0, "its VMs run");
      Deno.kill(-demo.pid, "SIGINT"); // the whole group, as Ctrl-C does
      const status = await Promise.race([
        demo.status,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 120_000)),
      ]);
      assert.ok(status, "the demo exited");
      await reading;
      const text = out.join("");
      assert.equal(text.match(/demo: stopping/g)?.length, 1, text.slice(-2000));
      assert.match(text, /demo: stopped/);
      assert.doesNotMatch(text, /Uncaught|already terminated/);
      assert.deepEqual(
        processesMentioning(`${dir}/demo-cache/vms/`),
        [],
        "no QEMU or virtiofsd left",
      );
      assert.deepEqual(processesMentioning(dir), [], "nothing of the demo left");
      assert.equal(await linkExists("vzkdemo0"), false, "its bridge is gone");
    } finally {
      try {
        Deno.kill(-demo.pid, "SIGKILL");
      } catch { /* gone */ }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
