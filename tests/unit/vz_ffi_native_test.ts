// ffi/shim.ts over a real shared library: tests/support/fake_vzshim.c implements the ABI of
// objc-shim/vzshim.h in C (no VMs) and is compiled here with the system's C compiler. So the
// wrapper's dlopen, ABI check, C strings, freeing of every returned string, the error out-slot
// of vzk_vm_create, nonblocking calls (the JS thread runs on while a call waits) and the event
// drain all run for real on Linux.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openVzShim } from "../../ffi/shim.ts";
import { ShimError } from "../../ffi/types.ts";

const source = fileURLToPath(new URL("../support/fake_vzshim.c", import.meta.url));
const headerDir = fileURLToPath(new URL("../../objc-shim/", import.meta.url));

async function build(dir: string, name: string, defines: string[] = []): Promise<string> {
  const lib = `${dir}/${name}`;
  const out = await new Deno.Command("cc", {
    args: [
      "-shared",
      "-fPIC",
      "-Wall",
      "-Werror",
      "-I",
      headerDir,
      ...defines,
      "-o",
      lib,
      source,
      "-lpthread",
    ],
    stderr: "piped",
  }).output();
  assert.ok(out.success, `cc failed: ${new TextDecoder().decode(out.stderr)}`);
  return lib;
}

/** The fake's count of strings handed out and not yet freed. */
function outstanding(lib: string): number {
  const l = Deno.dlopen(lib, { fake_outstanding: { parameters: [], result: "i32" } });
  try {
    return l.symbols.fake_outstanding();
  } finally {
    l.close();
  }
}

Deno.test({
  name: "vz ffi: the wrapper over a real library: strings, errors, nonblocking calls, events",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vzk-ffi-" });
    try {
      const lib = await build(dir, "libvzshim.so");
      const shim = openVzShim(lib);
      const host = shim.hostInfo();
      assert.equal(host.macOSVersion, "15.1.1");
      assert.equal(host.supported, true);
      assert.deepEqual(host.bridgedInterfaces, [{ identifier: "en0", name: "Ethernet" }]);
      assert.equal(shim.hardwareModelSupported("AQID"), true);
      assert.equal(shim.hardwareModelSupported("AAAA"), false);
      assert.equal(shim.hardwareModelSupported("bad"), undefined);
      assert.equal(shim.newMachineIdentifier(), "bmV3LWlk");
      shim.validateConfiguration('{"cpus":2}');
      const invalid = (() => {
        try {
          shim.validateConfiguration('{"cpus":99}');
        } catch (e) {
          return e;
        }
      })();
      assert.ok(invalid instanceof ShimError);
      assert.ok(invalid.is("VZErrorDomain", 2));
      assert.match(invalid.message, /Virtualization is not available on this hardware/);
      assert.equal(shim.clonefile(`${dir}/missing`, `${dir}/x`), -2);
      assert.equal(shim.clonefile(lib, `${dir}/x`), -45);

      const failed = await shim.createVm('{"cpus":98}').catch((e) => e);
      assert.ok(failed instanceof ShimError);
      assert.equal(failed.message, "description .cpus: missing");

      const vm = await shim.createVm("{}");
      assert.equal(vm.state(), "stopped");
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const t0 = Date.now();
      await vm.start(); // waits 200 ms in the library, on a worker thread
      clearInterval(timer);
      assert.ok(Date.now() - t0 >= 190);
      assert.ok(ticks >= 5, `the JS thread ran during the call (${ticks} ticks)`);
      assert.equal(vm.state(), "running");
      assert.deepEqual(await vm.nextEvent(100), { type: "state", state: "starting" });
      assert.deepEqual(await vm.nextEvent(100), { type: "state", state: "running" });
      const t1 = Date.now();
      assert.equal(await vm.nextEvent(50), undefined, "no event: waited, then nothing");
      assert.ok(Date.now() - t1 >= 40);

      const wrong = await vm.resume().catch((e) => e);
      assert.ok(wrong instanceof ShimError);
      assert.ok(wrong.is("vzshim", 4));
      await vm.pause();
      assert.equal(vm.state(), "paused");
      await vm.resume();
      await vm.requestStop();
      assert.deepEqual(await vm.nextEvent(100), { type: "state", state: "stopped" });
      assert.deepEqual(await vm.nextEvent(100), { type: "guest-stopped" });

      // A wait in flight is allowed to finish before the handle goes.
      const pending = vm.nextEvent(100);
      await vm.release();
      assert.equal(await pending, undefined);
      await assert.rejects(vm.start(), /the VM was released/);
      assert.equal(await vm.nextEvent(10), undefined);
      assert.equal(vm.state(), "unknown");
      await vm.release(); // idempotent
      assert.equal(outstanding(lib), 0, "every returned string was freed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("vz ffi: a library of another ABI version is refused with the fix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-ffi-" });
  try {
    const lib = await build(dir, "old.so", ["-DFAKE_ABI=99"]);
    assert.throws(
      () => openVzShim(lib),
      /has ABI version 99, this agent needs 1.*make -C objc-shim/,
    );
    assert.throws(() => openVzShim(`${dir}/none.so`), /vz shim: cannot load .*none\.so/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "vz ffi: the backend runs `main.ts vm run` helpers over the library, end to end",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { createVzBackend } = await import("../../src/vm/vz/backend.ts");
    const { createLogger } = await import("../../src/telemetry/log.ts");
    const { REASON_ASKED } = await import("../../src/vm/vz/lifecycle.ts");
    const dir = await Deno.makeTempDir({ prefix: "vzk-ffi-" });
    const before = Deno.env.get("VZK_SHIM_PATH");
    let pid: number | undefined;
    try {
      const lib = await build(dir, "libvzshim.so");
      Deno.env.set("VZK_SHIM_PATH", lib); // for the helper processes the backend starts
      const main = fileURLToPath(new URL("../../main.ts", import.meta.url));
      const host = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "vm", "host"],
        stdout: "piped",
      }).output();
      assert.equal(host.code, 0);
      const shown = JSON.parse(new TextDecoder().decode(host.stdout));
      assert.equal(shown.shim, lib);
      assert.equal(shown.macOSVersion, "15.1.1");
      const kernel = new Uint8Array(64);
      kernel.set([0x41, 0x52, 0x4d, 0x64], 0x38);
      await Deno.writeFile(`${dir}/Image`, kernel);
      await Deno.writeTextFile(`${dir}/disk.img`, "disk");
      const backend = await createVzBackend({
        stateDir: `${dir}/vms`,
        maxRunning: 2,
        log: createLogger({ level: "error" }),
        shim: openVzShim(lib),
        hostCpus: 4,
        hostMemoryBytes: 8 * 2 ** 30,
        machineId: "new",
        allowImageCopy: true, // the fake's clonefile says ENOTSUP, as off APFS
        ipSources: {
          leases: () => Promise.resolve(""),
          neighbours: () =>
            Promise.resolve("? (192.168.64.7) at 2:0:0:0:0:b on bridge100 ifscope [bridge]"),
          capture: async function* () {},
        },
      });
      const spec = {
        id: "e2e",
        name: "test/e2e",
        cpus: 2,
        memoryBytes: 2 ** 30,
        workDir: `${dir}/vms/e2e`,
        mac: "02:00:00:00:00:0b",
        image: { os: "linux" as const, disk: `${dir}/disk.img`, kernel: `${dir}/Image` },
      };
      const vm = await backend.create(spec);
      await vm.start(); // spawns `deno run -A main.ts vm run --spec ...`
      pid = (vm as unknown as { pid: number }).pid;
      assert.equal(vm.state, "running");
      assert.equal(await vm.ipAddress(AbortSignal.timeout(5_000)), "192.168.64.7");
      await vm.stop({ graceful: true, timeoutMs: 10_000 });
      assert.equal(vm.state, "stopped");
      assert.equal(vm.reason, REASON_ASKED);
      const log = await Deno.readTextFile(`${spec.workDir}/helper.log`);
      assert.match(log, /vm test\/e2e: running/);
      assert.match(log, /vm test\/e2e: stopped \(the guest shut down when asked\)/);
      await vm.destroy();
      await backend.close();
    } finally {
      if (before === undefined) Deno.env.delete("VZK_SHIM_PATH");
      else Deno.env.set("VZK_SHIM_PATH", before);
      if (pid) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
