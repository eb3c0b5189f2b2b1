// The vz backend on Linux against a scripted shim, with real helper processes (a test script
// that runs the helper over the scripted shim): clones and machine identifiers, start and stop,
// crashes and killed helpers, the framework's VM limit, adoption by a second backend (an agent
// restart), clean-up of leftovers, and the two-VM cap.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createVzBackend, type VzBackendOptions } from "../../src/vm/vz/backend.ts";
import { VM_LIMIT_REASON, type VzVm } from "../../src/vm/vz/vm.ts";
import { helperAlive, readRecord, vmPaths } from "../../src/vm/vz/record.ts";
import { REASON_ASKED } from "../../src/vm/vz/lifecycle.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import type { VmSpec, VmState } from "../../src/vm/types.ts";
import { scriptedShim, type ShimScript } from "../support/scripted_vz_shim.ts";

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });
const GiB = 2 ** 30;
const helperScript = fileURLToPath(new URL("../support/scripted_vz_helper.ts", import.meta.url));
const noIp = {
  leases: () => Promise.resolve(""),
  neighbours: () => Promise.resolve(""),
  capture: async function* () {},
};

interface World {
  dir: string;
  stateDir: string;
  image: { disk: string; aux: string };
  options(script?: ShimScript, over?: Partial<VzBackendOptions>): VzBackendOptions;
  spec(id: string, os?: "darwin" | "linux"): VmSpec;
  pids: number[];
}

async function withWorld(fn: (w: World) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "vzk-vz-" });
  const stateDir = `${dir}/vms`;
  const image = { disk: `${dir}/image-disk.img`, aux: `${dir}/image-aux.img` };
  await Deno.writeTextFile(image.disk, "disk bytes");
  await Deno.writeTextFile(image.aux, "aux bytes");
  const kernel = new Uint8Array(64);
  kernel.set([0x41, 0x52, 0x4d, 0x64], 0x38);
  await Deno.writeFile(`${dir}/Image`, kernel);
  const pids: number[] = [];
  const w: World = {
    dir,
    stateDir,
    image,
    pids,
    options: (script = {}, over = {}) => ({
      stateDir,
      maxRunning: 2,
      log,
      shim: scriptedShim(script),
      hostCpus: 8,
      hostMemoryBytes: 32 * GiB,
      machineId: "new",
      allowImageCopy: false,
      ipSources: noIp,
      killWaitMs: 5_000,
      helperCommand: (specPath) => ({
        cmd: Deno.execPath(),
        args: ["run", "-A", helperScript, "--spec", specPath, "--script", JSON.stringify(script)],
      }),
      ...over,
    }),
    spec: (id, os = "darwin") => ({
      id,
      name: `test/${id}`,
      cpus: 2,
      memoryBytes: 4 * GiB,
      workDir: `${stateDir}/${id}`,
      mac: "02:00:00:00:00:0a",
      image: os === "darwin"
        ? {
          os,
          disk: image.disk,
          aux: image.aux,
          hardwareModel: new Uint8Array([1, 2, 3]),
          machineId: new Uint8Array([7, 7, 7]),
        }
        : { os, disk: image.disk, kernel: `${dir}/Image`, cmdline: "console=ttyS0" },
    }),
  };
  try {
    await fn(w);
  } finally {
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function states(vm: { onStateChange(fn: (s: VmState, r?: string) => void): void }) {
  const seen: { state: VmState; reason?: string }[] = [];
  vm.onStateChange((state, reason) => seen.push({ state, reason }));
  return seen;
}

async function until(cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "vz backend: clones, a new machine identifier per VM, start, graceful stop, destroy",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withWorld(async (w) => {
      const opts = w.options({ shutdownAfterMs: 50 });
      const shim = opts.shim as ReturnType<typeof scriptedShim>;
      const backend = await createVzBackend(opts);
      assert.equal(backend.name, "vz");
      assert.equal(backend.maxRunning, 2);
      assert.equal(backend.version, "vz://15.1.1");
      assert.deepEqual(backend.validate(w.spec("a")), []);

      const a = await backend.create(w.spec("a")) as VzVm;
      const b = await backend.create(w.spec("b")) as VzVm;
      const pa = vmPaths(`${w.stateDir}/a`);
      assert.deepEqual(shim.clones, [
        [w.image.disk, pa.disk],
        [w.image.aux, pa.aux],
        [w.image.disk, vmPaths(`${w.stateDir}/b`).disk],
        [w.image.aux, vmPaths(`${w.stateDir}/b`).aux],
      ]);
      assert.equal(await Deno.readTextFile(pa.disk), "disk bytes");
      const imageId = btoa(String.fromCharCode(7, 7, 7));
      assert.notEqual(a.record.machineIdentifier, imageId, "not the image's identifier");
      assert.notEqual(a.record.machineIdentifier, b.record.machineIdentifier);
      // The shim validated exactly the description the helper will run.
      const helperSpec = JSON.parse(await Deno.readTextFile(pa.helperSpec));
      assert.deepEqual(shim.validated[0], helperSpec.description);
      assert.equal(helperSpec.description.platform.machineIdentifier, a.record.machineIdentifier);
      assert.equal(helperSpec.description.platform.auxiliaryStorage, pa.aux);
      assert.equal(helperSpec.description.network[0].mac, "02:00:00:00:00:0a");

      const seen = states(a);
      await a.start();
      w.pids.push(a.pid!);
      assert.equal(a.state, "running");
      assert.ok(await helperAlive(a.pid, pa.helperSpec));
      assert.equal((await readRecord(`${w.stateDir}/a`))?.pid, a.pid);
      await a.stop({ graceful: true, timeoutMs: 5_000 });
      assert.equal(a.state, "stopped");
      assert.equal(a.reason, REASON_ASKED);
      assert.ok(!(await helperAlive(a.pid, pa.helperSpec)), "the helper exited");
      assert.deepEqual(seen.map((s) => s.state), ["starting", "running", "stopping", "stopped"]);
      await a.destroy();
      await assert.rejects(Deno.stat(`${w.stateDir}/a`), Deno.errors.NotFound);
      await b.destroy(); // never started: nothing to stop
      await assert.rejects(Deno.stat(`${w.stateDir}/b`), Deno.errors.NotFound);
      await backend.close();
    }),
});

Deno.test({
  name: "vz backend: a crash, a killed helper, and the framework's VM limit",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withWorld(async (w) => {
      const crashing = await createVzBackend(w.options({ crashAfterMs: 100 }));
      const c = await crashing.create(w.spec("crash", "linux")) as VzVm;
      const cs = states(c);
      await c.start();
      w.pids.push(c.pid!);
      await until(() => c.state === "error");
      assert.match(c.reason!, /stopped with an error: The virtual machine stopped unexpectedly/);
      assert.equal(cs.filter((s) => s.state === "error").length, 1, "told once");
      await c.destroy();
      assert.equal(cs.filter((s) => s.state === "error" || s.state === "stopped").length, 1);

      const backend = await createVzBackend(w.options({}));
      const k = await backend.create(w.spec("killed")) as VzVm;
      await k.start();
      w.pids.push(k.pid!);
      Deno.kill(k.pid!, "SIGKILL");
      await until(() => k.state === "error");
      assert.match(k.reason!, /helper process \d+ ended without a shutdown: killed or crashed/);
      // The helper's own output went to helper.log, which the reason quotes.
      assert.match(k.reason!, /helper\.log: .*vm test\/killed: running/);
      await k.destroy();

      const full = await createVzBackend(w.options({
        startError: { domain: "VZErrorDomain", code: 6, message: "The number of VMs exceeds." },
      }));
      const l = await full.create(w.spec("limit")) as VzVm;
      const ls = states(l);
      const err = await l.start().catch((e) => e);
      assert.equal(err.reason, VM_LIMIT_REASON);
      assert.match(err.message, /test\/limit: Virtualization\.framework refused .* limit of 2/);
      assert.equal(l.state, "error");
      // A failed start is reported once, by the rejection (the runtime handles it there).
      assert.deepEqual(ls.map((s) => s.state), ["starting"]);
      await l.destroy();
      assert.deepEqual(ls.map((s) => s.state), ["starting"]);
    }),
});

Deno.test({
  name: "vz backend: a restarted agent adopts running VMs and cleans up the rest",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withWorld(async (w) => {
      const first = await createVzBackend(w.options({ shutdownAfterMs: 50 }));
      const kept = await first.create(w.spec("kept")) as VzVm;
      const gone = await first.create(w.spec("gone")) as VzVm;
      await kept.start();
      await gone.start();
      w.pids.push(kept.pid!, gone.pid!);
      const never = await first.create(w.spec("never")) as VzVm; // created, not started
      assert.equal(never.state, "created");
      await Deno.mkdir(`${w.stateDir}/junk`); // a directory without a record
      await first.close(); // the agent stops; its VMs run on
      assert.ok(await helperAlive(kept.pid, vmPaths(`${w.stateDir}/kept`).helperSpec));

      const second = await createVzBackend(w.options({ shutdownAfterMs: 50 }));
      assert.deepEqual((await second.leftovers()).sort(), ["gone", "junk", "kept", "never"]);
      await assert.rejects(
        second.create(w.spec("kept")),
        /test\/kept: the helper of an earlier VM of this pod still runs/,
      );
      const adopted = await second.adopt!(w.spec("kept")) as VzVm;
      assert.ok(adopted, "adopted");
      assert.equal(adopted.state, "running");
      assert.equal(adopted.pid, kept.pid, "the same helper process");
      assert.equal(await second.adopt!(w.spec("never")), undefined, "a VM never started");
      assert.equal(await second.adopt!(w.spec("missing")), undefined);

      for (const id of ["gone", "junk", "never"]) {
        await second.cleanup(id, `${w.stateDir}/${id}`);
        await assert.rejects(Deno.stat(`${w.stateDir}/${id}`), Deno.errors.NotFound);
      }
      assert.ok(!(await helperAlive(gone.pid, vmPaths(`${w.stateDir}/gone`).helperSpec)));

      const seen = states(adopted);
      await adopted.stop({ graceful: true, timeoutMs: 5_000 });
      assert.equal(adopted.state, "stopped");
      assert.deepEqual(seen.at(-1), { state: "stopped", reason: REASON_ASKED });
      await adopted.destroy();
      assert.deepEqual(await second.leftovers(), []);
      await second.close();
    }),
});

Deno.test({
  name: "vz backend: the image's machine identifier on request, never twice at once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withWorld(async (w) => {
      const backend = await createVzBackend(w.options({}, { machineId: "image" }));
      const a = await backend.create(w.spec("a")) as VzVm;
      assert.equal(a.record.machineIdentifier, btoa(String.fromCharCode(7, 7, 7)));
      await a.start();
      w.pids.push(a.pid!);
      await assert.rejects(
        backend.create(w.spec("b")),
        /already runs with this image's machine identifier/,
      );
      await a.stop({ graceful: false, timeoutMs: 0 });
      await a.destroy();
      const b = await backend.create(w.spec("b")) as VzVm;
      assert.equal(b.record.machineIdentifier, a.record.machineIdentifier);
      await b.destroy();
    }),
});

Deno.test({
  name: "vz backend: clones refuse a full copy unless allowed; bad configurations and hosts",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withWorld(async (w) => {
      const noClone = await createVzBackend(w.options({ clonefile: -45 }));
      await assert.rejects(
        noClone.create(w.spec("a")),
        /test\/a: clone .* cannot clone files \(clonefile: ENOTSUP\).*--allow-image-copy/,
      );
      const copying = await createVzBackend(
        w.options({ clonefile: -45 }, { allowImageCopy: true }),
      );
      const a = await copying.create(w.spec("a")) as VzVm;
      assert.equal(a.record.clone, "copy");
      assert.equal(await Deno.readTextFile(vmPaths(`${w.stateDir}/a`).aux), "aux bytes");
      await a.destroy();
      const denied = await createVzBackend(w.options({ clonefile: -13 }, { allowImageCopy: true }));
      await assert.rejects(denied.create(w.spec("a")), /clonefile failed: EACCES/);

      const invalid = await createVzBackend(w.options({
        validateError: { domain: "VZErrorDomain", code: 2, message: "Invalid memory size." },
      }));
      await assert.rejects(
        invalid.create(w.spec("a")),
        /test\/a: the VM configuration is not valid: Invalid memory size\./,
      );
      await Deno.writeFile(`${w.dir}/Image`, new Uint8Array([0x1f, 0x8b, 8, 0]));
      assert.match(invalid.validate(w.spec("l", "linux")).join(), /gzip-compressed/);

      await assert.rejects(
        createVzBackend(w.options({ host: { supported: false } })),
        /Virtualization is not available on this hardware/,
      );
      const capped = await createVzBackend(w.options({}, { maxRunning: 5 }));
      assert.equal(capped.maxRunning, 2);
      assert.equal(capped.limits.maxCpus, 8);
    }),
});
