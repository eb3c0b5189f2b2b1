// What a Mac can check without starting a VM (all that GitHub's hosted macOS runners allow):
// the shim loads through FFI and answers host info, makes machine identifiers, clones a file on
// APFS, and the agent's own VM descriptions go through the shim's configuration builder and
// validation: valid, or refused with "Virtualization is not available on this hardware", which
// the backend must report cleanly. Anything else exits 1. Run: ./deno.sh run -A tools/macos/smoke.ts

import { locateShim } from "../../ffi/locate.ts";
import { openVzShim } from "../../ffi/shim.ts";
import { ShimError } from "../../ffi/types.ts";
import { createVzBackend } from "../../src/vm/vz/backend.ts";
import { vzDescription } from "../../src/vm/vz/description.ts";
import { vzLimits } from "../../src/vm/vz/problems.ts";
import { createLogger } from "../../src/telemetry/log.ts";

const NOT_AVAILABLE = /not available on this hardware|not supported|unsupported/i;
let failures = 0;

function check(what: string, ok: boolean, detail: unknown = "") {
  console.log(
    `${ok ? "ok  " : "FAIL"} ${what}${
      detail === "" ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`
    }`,
  );
  if (!ok) failures++;
}

const path = locateShim();
const shim = openVzShim(path);
const host = shim.hostInfo();
check(`shim ${path} loads; host info`, host.maxCpus > 0 && host.maxMemoryBytes > 0, host);

const id = shim.newMachineIdentifier();
check("a new machine identifier", atob(id).length > 0, id);
check("garbage is not a hardware model", shim.hardwareModelSupported("AAAA") !== true);

const dir = await Deno.makeTempDir({ prefix: "vzk-smoke-" });
try {
  const data = new Uint8Array(1 << 20).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
  await Deno.writeFile(`${dir}/base.img`, data);
  const rc = shim.clonefile(`${dir}/base.img`, `${dir}/clone.img`);
  const same = rc === 0 &&
    (await Deno.readFile(`${dir}/clone.img`)).every((b, i) => b === data[i]);
  check("clonefile clones on this (APFS) volume", same, `rc ${rc}`);
  check(
    "clonefile refuses an existing destination",
    shim.clonefile(`${dir}/base.img`, `${dir}/clone.img`) === -17,
  );

  const kernel = new Uint8Array(64);
  kernel.set([0x41, 0x52, 0x4d, 0x64], 0x38);
  await Deno.writeFile(`${dir}/Image`, kernel);
  await Deno.truncate(`${dir}/base.img`, 64 * 2 ** 20);
  const limits = vzLimits(host, navigator.hardwareConcurrency, 8 * 2 ** 30);
  const linux = vzDescription({
    id: "smoke",
    name: "smoke/linux",
    cpus: 1,
    memoryBytes: 2 ** 30,
    workDir: dir,
    image: {
      os: "linux",
      disk: `${dir}/base.img`,
      kernel: `${dir}/Image`,
      cmdline: "console=ttyS0",
    },
    shares: [{ name: "work", hostPath: dir, readOnly: true }],
  }, {
    network: { mode: "nat" },
    mac: "02:00:00:00:00:01",
    disk: `${dir}/base.img`,
    consoleLog: `${dir}/console.log`,
    limits,
  });
  try {
    shim.validateConfiguration(JSON.stringify(linux));
    check("a Linux guest's description validates", true);
  } catch (err) {
    const handled = err instanceof ShimError && NOT_AVAILABLE.test(err.message);
    check(
      "a Linux guest's description is refused only for want of virtualization",
      handled,
      String(err),
    );
  }
  const mac = vzDescription({
    id: "smoke",
    name: "smoke/mac",
    cpus: 2,
    memoryBytes: 4 * 2 ** 30,
    workDir: dir,
    image: {
      os: "darwin",
      disk: `${dir}/base.img`,
      aux: `${dir}/base.img`,
      hardwareModel: new Uint8Array([1, 2, 3]),
    },
  }, {
    network: { mode: "nat" },
    mac: "02:00:00:00:00:02",
    disk: `${dir}/base.img`,
    aux: `${dir}/base.img`,
    consoleLog: `${dir}/console.log`,
    machineIdentifier: id,
    limits,
  });
  const badModel = (() => {
    try {
      shim.validateConfiguration(JSON.stringify(mac));
    } catch (err) {
      return err;
    }
  })();
  check(
    "a macOS description with a bad hardware model is refused by name",
    badModel instanceof ShimError && /hardwareModel/.test(badModel.message),
    String(badModel),
  );
  const badJson = (() => {
    try {
      shim.validateConfiguration("[1,2");
    } catch (err) {
      return err;
    }
  })();
  check(
    "a broken description is a vzshim error",
    badJson instanceof ShimError && badJson.domain === "vzshim",
    String(badJson),
  );

  try {
    const backend = await createVzBackend({
      stateDir: `${dir}/vms`,
      maxRunning: 2,
      log: createLogger({ level: "error" }),
      shim,
      hostCpus: navigator.hardwareConcurrency,
      hostMemoryBytes: 8 * 2 ** 30,
      machineId: "new",
      allowImageCopy: false,
    });
    check(
      "the vz backend starts here",
      backend.version === `vz://${host.macOSVersion}`,
      backend.version,
    );
    await backend.close();
  } catch (err) {
    check(
      "the vz backend refuses this host cleanly",
      !host.supported && NOT_AVAILABLE.test(String(err)),
      String(err),
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
console.log(failures ? `smoke: ${failures} check(s) failed` : "smoke: all checks passed");
Deno.exit(failures ? 1 : 0);
