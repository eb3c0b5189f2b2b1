// Guest stats parsing: /proc/stat and /proc/meminfo as a Linux guest prints them.

import assert from "node:assert/strict";
import { nanoCores, parseMeminfo, parseProcStat } from "../../src/guest/stats.ts";
import { commandLine, shellQuote } from "../../src/guest/quote.ts";

Deno.test("guest stats: busy CPU time and used memory", () => {
  const stat = "cpu  100 5 50 9000 20 3 2 0 0 0\ncpu0 100 5 50 9000 20 3 2 0 0 0\nintr 1\n";
  assert.equal(parseProcStat(stat), (100 + 5 + 50 + 3 + 2 + 0) * 10_000_000);
  assert.equal(parseProcStat("nothing"), undefined);
  const mem =
    "MemTotal:         251000 kB\nMemFree:          100000 kB\nMemAvailable:     200000 kB\n";
  assert.deepEqual(parseMeminfo(mem), { total: 251000 * 1024, used: 51000 * 1024 });
});

Deno.test("guest stats: CPU rate between samples", () => {
  const t = new Date(1_000_000);
  const a = { cpuNanoSeconds: 0, memoryUsedBytes: 0, memoryTotalBytes: 0, time: t };
  const b = { ...a, cpuNanoSeconds: 500_000_000, time: new Date(t.getTime() + 1000) };
  assert.equal(nanoCores(a, b), 500_000_000); // half a core
  assert.equal(nanoCores(undefined, b), undefined);
});

Deno.test("ssh quoting: argv cannot inject shell syntax", () => {
  assert.equal(shellQuote("plain-arg_1.txt"), "plain-arg_1.txt");
  assert.equal(shellQuote("a b"), "'a b'");
  assert.equal(shellQuote("it's"), `'it'"'"'s'`);
  assert.equal(shellQuote(""), "''");
  assert.equal(commandLine(["echo", "$(rm -rf /)", ";", "x"]), "echo '$(rm -rf /)' ';' x");
  assert.equal(commandLine(["env"], { A_B: "x y" }), "env 'A_B=x y' env");
  // Any name the API allows: one word for env(1), never a shell assignment.
  assert.equal(commandLine(["true"], { "my.dotted-var": "1" }), "env my.dotted-var=1 true");
  assert.equal(commandLine(["true"], { "$(x)": "`y`" }), "env '$(x)=`y`' true");
  assert.equal(commandLine(["true"], { "-u": "1" }), "env -- -u=1 true");
});
