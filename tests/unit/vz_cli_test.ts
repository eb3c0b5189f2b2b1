// `main.ts vm run --spec FILE`, the vz backend's helper process, as a command: usage errors,
// an unreadable spec, and on a host without the shim a message saying how to get one.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../../main.ts", import.meta.url));

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("vz cli: vm run checks its arguments, its spec, and finds no shim off a Mac", async () => {
  const usage = await run(["vm"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: macos-vz-kubelet vm run --spec FILE/);

  const missing = await run(["vm", "run", "--spec", "/nonexistent/helper.json"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /vm run: cannot read \/nonexistent\/helper\.json/);

  const dir = await Deno.makeTempDir({ prefix: "vzk-cli-" });
  try {
    const spec = `${dir}/helper.json`;
    await Deno.writeTextFile(
      spec,
      JSON.stringify({
        id: "x",
        name: "t/x",
        os: "linux",
        socketPath: `${dir}/c.sock`,
        consoleLog: `${dir}/console.log`,
        exitFile: `${dir}/exit.json`,
        description: {},
      }),
    );
    const noShim = await run(["vm", "run", "--spec", spec], {
      VZK_SHIM_PATH: `${dir}/libvzshim.dylib`,
    });
    assert.equal(noShim.code, 1);
    assert.match(noShim.stderr, /libvzshim\.dylib not found .*make -C objc-shim.*VZK_SHIM_PATH/);
    await Deno.writeTextFile(`${dir}/libvzshim.dylib`, "not a library");
    const bad = await run(["vm", "run", "--spec", spec], {
      VZK_SHIM_PATH: `${dir}/libvzshim.dylib`,
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /vz shim: cannot load .*libvzshim\.dylib/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
