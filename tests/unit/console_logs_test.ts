// The VM console as a container log (src/runtime/console_logs.ts): tail including 0, the
// arrival-time index that gives console lines timestamps for --timestamps/--since, and
// follow ending when the run ends.

import assert from "node:assert/strict";
import {
  consoleLogStream,
  indexConsole,
  parseIndex,
  tailLines,
  timestampedConsole,
} from "../../src/runtime/console_logs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("console: tail, including --tail=0", () => {
  const text = enc.encode("a\nb\nc\n");
  assert.equal(dec.decode(tailLines(text, 2)), "b\nc\n");
  assert.equal(dec.decode(tailLines(text, 0)), "");
  assert.equal(dec.decode(tailLines(text, 10)), "a\nb\nc\n");
});

Deno.test("console: lines take the arrival time the index has for them", () => {
  const log = enc.encode("boot\nready\r\nlater\npartial");
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const index = `0 ${t0}\n5 ${t0 + 1000}\n18 ${t0 + 5000}\n`;
  assert.deepEqual(parseIndex(index).map((e) => e.offset), [0, 5, 18]);
  assert.equal(
    timestampedConsole(log, index, t0 + 9000),
    "2026-01-01T00:00:00.000Z boot\n2026-01-01T00:00:01.000Z ready\n" +
      "2026-01-01T00:00:01.000Z later\n2026-01-01T00:00:05.000Z partial\n",
  );
  assert.equal(timestampedConsole(enc.encode("x\n"), "", t0), "2026-01-01T00:00:00.000Z x\n");
});

Deno.test("console: the index follows the log; timestamps, since and follow's end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-console-" });
  const log = `${dir}/console.log`;
  const index = `${dir}/console.idx`;
  try {
    await Deno.writeTextFile(log, "one\n");
    const run = new AbortController();
    const indexing = indexConsole(log, index, run.signal);
    await new Promise((r) => setTimeout(r, 400));
    const beforeTwo = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await Deno.writeTextFile(log, "two\nthree\n", { append: true });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(parseIndex(await Deno.readTextFile(index)).length, 3);

    const read = (opts: Parameters<typeof consoleLogStream>[1], ended?: AbortSignal) =>
      new Response(consoleLogStream({ log, index, ended }, opts)).text();
    const stamped = await read({ timestamps: true });
    assert.match(stamped, /^\d{4}-\d\d-\d\dT[\d:.]+Z one\n\S+ two\n\S+ three\n$/);
    assert.equal(await read({ sinceTime: new Date(beforeTwo) }), "two\nthree\n");
    assert.equal(await read({ tailLines: 0 }), "");

    // Follow ends once the run has ended (after what is left has been read).
    const following = read({ follow: true, tailLines: 1 }, run.signal);
    await Deno.writeTextFile(log, "four\n", { append: true });
    await new Promise((r) => setTimeout(r, 400));
    run.abort();
    assert.equal(await following, "three\nfour\n");
    await indexing;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
