// Ending what one guest command started: the pid marker is taken out of the output wherever
// its chunks split, output before it passes through, and the kill script (run here by this
// host's sh, ps and awk, as a guest runs it) ends a real process tree and nothing else.

import assert from "node:assert/strict";
import { killTreeScript, markerFilter, trackedLine } from "../../src/guest/process_tree.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array[]) => b.map((x) => new TextDecoder().decode(x)).join("");

Deno.test("process tree: the marker leaves the output, split anywhere", () => {
  const whole = "__vzk_exec_pid=4242\r\nhello\n";
  for (let cut = 0; cut <= whole.length; cut++) {
    const got: Uint8Array[] = [];
    let pid: number | undefined;
    const f = markerFilter((c) => void got.push(c), (p) => pid = p);
    f.write(enc(whole.slice(0, cut)));
    f.write(enc(whole.slice(cut)));
    f.write(enc("more"));
    f.flush();
    assert.equal(pid, 4242, `cut at ${cut}`);
    assert.equal(dec(got), "hello\nmore", `cut at ${cut}`);
  }
});

Deno.test("process tree: output before the marker is kept; no marker, nothing lost", () => {
  const got: Uint8Array[] = [];
  let pid: number | undefined;
  const f = markerFilter((c) => void got.push(c), (p) => pid = p);
  f.write(enc("profile says hi\n__vzk_exec_pid=7\nout"));
  assert.equal(pid, 7);
  assert.equal(dec(got), "profile says hi\nout");

  const plain: Uint8Array[] = [];
  const g = markerFilter((c) => void plain.push(c), () => assert.fail("no marker here"));
  g.write(enc("just output"));
  g.flush();
  assert.equal(dec(plain), "just output");
  const big: Uint8Array[] = [];
  const h = markerFilter((c) => void big.push(c), () => {});
  h.write(new Uint8Array(5000).fill(65));
  h.write(enc("tail"));
  assert.equal(dec(big).length, 5004, "past the look limit output flows again");
});

Deno.test("process tree: tracked lines announce the shell's pid, exec or not", async () => {
  assert.match(trackedLine("echo hi", true), /; exec echo hi$/);
  assert.doesNotMatch(trackedLine("a; b", false), /; exec /);
  const out = await new Deno.Command("sh", { args: ["-c", trackedLine("echo $$", true)] })
    .output();
  const pid = /__vzk_exec_pid=(\d+)/.exec(new TextDecoder().decode(out.stderr))?.[1];
  assert.equal(new TextDecoder().decode(out.stdout).trim(), pid, "exec keeps the announced pid");
});

Deno.test("process tree: the kill script ends a whole tree, and only it", async () => {
  const tree = new Deno.Command("sh", {
    args: ["-c", "sleep 301 & sh -c 'sleep 302 & wait' & wait"],
  }).spawn();
  const bystander = new Deno.Command("sleep", { args: ["303"] }).spawn();
  const sleeps = async () => {
    const ps = await new Deno.Command("ps", { args: ["-A", "-o", "args="] }).output();
    return new TextDecoder().decode(ps.stdout).split("\n")
      .filter((l) => /^(\S*\/)?sleep 30[123]$/.test(l)).map((l) => l.replace(/^\S*\//, ""));
  };
  try {
    for (let i = 0; i < 50 && (await sleeps()).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await sleeps()).length, 3, "the tree and the bystander are running");
    const kill = await new Deno.Command("sh", { args: ["-c", killTreeScript(tree.pid)] }).output();
    assert.equal(kill.code, 0);
    const status = await tree.status;
    assert.equal(status.signal, "SIGKILL");
    for (let i = 0; i < 50 && (await sleeps()).length > 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await sleeps(), ["sleep 303"], "only the bystander is left");
  } finally {
    bystander.kill("SIGKILL");
    await bystander.status;
  }
  assert.throws(() => killTreeScript(1), /not a process to kill/);
});
