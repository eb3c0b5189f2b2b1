// The vz backend's pure parts: the JSON description a VmSpec becomes (devices, CPU/memory
// bounds, NAT vs bridged, shares, machine identifier), what keeps a spec from running, and
// the kernel format check.

import assert from "node:assert/strict";
import {
  clampCpus,
  clampMemory,
  linuxCommandLine,
  type VzChoices,
  vzDescription,
  type VzLimits,
} from "../../src/vm/vz/description.ts";
import { kernelFormatProblem, vzLimits, vzProblems } from "../../src/vm/vz/problems.ts";
import type { VzHostInfo } from "../../ffi/types.ts";
import type { VmSpec } from "../../src/vm/types.ts";
import { SCRIPTED_HOST } from "../support/scripted_vz_shim.ts";

const GiB = 2 ** 30;
const limits: VzLimits = { minCpus: 1, maxCpus: 8, minMemoryBytes: GiB, maxMemoryBytes: 16 * GiB };
const host: VzHostInfo = SCRIPTED_HOST;

const macSpec = (over: Partial<VmSpec> = {}): VmSpec => ({
  id: "uid-1",
  name: "ci/runner-1",
  cpus: 4,
  memoryBytes: 8 * GiB,
  workDir: "/w/uid-1",
  image: {
    os: "darwin",
    disk: "/cache/disk.img",
    aux: "/cache/aux.img",
    hardwareModel: new Uint8Array([1, 2, 3]),
    machineId: new Uint8Array([9, 9]),
  },
  ...over,
});

const linuxSpec = (over: Partial<VmSpec> = {}): VmSpec => ({
  ...macSpec(),
  image: {
    os: "linux",
    disk: "/cache/disk.img",
    kernel: "/cache/Image",
    initrd: "/cache/initrd",
    cmdline: "console=ttyS0 root=/dev/vda rw",
  },
  ...over,
});

const choices = (over: Partial<VzChoices> = {}): VzChoices => ({
  network: { mode: "nat" },
  mac: "02:00:00:00:00:01",
  disk: "/w/uid-1/disk.img",
  aux: "/w/uid-1/aux.img",
  consoleLog: "/w/uid-1/console.log",
  machineIdentifier: "TkVXSUQ=",
  limits,
  ...over,
});

Deno.test("vz description: a macOS guest gets the upstream device set on its own clones", () => {
  const d = vzDescription(macSpec(), choices());
  assert.deepEqual(d, {
    version: 1,
    cpus: 4,
    memoryBytes: 8 * GiB,
    storage: [{ path: "/w/uid-1/disk.img", readOnly: false, caching: "automatic", sync: "full" }],
    network: [{ attachment: "nat", mac: "02:00:00:00:00:01" }],
    entropy: true,
    memoryBalloon: true,
    socket: true,
    boot: { kind: "macos" },
    platform: {
      kind: "mac",
      hardwareModel: "AQID",
      // The VM's own identifier (a new one by default), not the image's (CQk=).
      machineIdentifier: "TkVXSUQ=",
      auxiliaryStorage: "/w/uid-1/aux.img",
    },
    graphics: { kind: "mac", width: 1920, height: 1200, pixelsPerInch: 80 },
    keyboard: "usb",
    pointing: ["usb-screen-coordinate", "mac-trackpad"],
    directoryShares: [],
    serialLog: null,
  });
  // Never the cached image files themselves.
  assert.ok(!JSON.stringify(d).includes("/cache/"));
  assert.throws(
    () => vzDescription(macSpec(), choices({ machineIdentifier: undefined })),
    /ci\/runner-1: a macOS guest needs/,
  );
});

Deno.test("vz description: bridged networking names the interface and keeps the pod's MAC", () => {
  const d = vzDescription(macSpec(), choices({ network: { mode: "bridged", interface: "en0" } }));
  assert.deepEqual(d.network, [
    { attachment: "bridged", interface: "en0", mac: "02:00:00:00:00:01" },
  ]);
});

Deno.test("vz description: a Linux guest boots its kernel with the console on hvc0", () => {
  const d = vzDescription(linuxSpec(), choices({ aux: undefined, machineIdentifier: undefined }));
  assert.deepEqual(d.boot, {
    kind: "linux",
    kernel: "/cache/Image",
    initrd: "/cache/initrd",
    commandLine: "console=hvc0 root=/dev/vda rw",
  });
  assert.deepEqual(d.platform, { kind: "generic" });
  assert.equal(d.serialLog, "/w/uid-1/console.log");
  assert.equal(d.graphics, null);
  assert.equal(d.keyboard, "none");
  assert.deepEqual(d.pointing, []);
  assert.equal(d.socket, true);
  assert.throws(
    () => vzDescription(linuxSpec({ image: { os: "linux", disk: "/d" } }), choices()),
    /needs a kernel/,
  );
});

Deno.test("vz description: shares are one virtio-fs device, automount tag for macOS", () => {
  const shares = [
    { name: "cache", hostPath: "/v/cache", readOnly: false },
    { name: "config", hostPath: "/v/config", readOnly: true },
  ];
  const dirs = [
    { name: "cache", path: "/v/cache", readOnly: false },
    { name: "config", path: "/v/config", readOnly: true },
  ];
  assert.deepEqual(vzDescription(macSpec({ shares }), choices()).directoryShares, [
    { tag: null, directories: dirs },
  ]);
  assert.deepEqual(vzDescription(linuxSpec({ shares }), choices()).directoryShares, [
    { tag: "vzk-volumes", directories: dirs },
  ]);
});

Deno.test("vz description: CPUs and memory are clamped into bounds, memory to whole MiB", () => {
  assert.equal(clampCpus(0, limits), 1);
  assert.equal(clampCpus(3.7, limits), 3);
  assert.equal(clampCpus(64, limits), 8);
  assert.equal(clampMemory(GiB / 2, limits), GiB);
  assert.equal(clampMemory(64 * GiB, limits), 16 * GiB);
  assert.equal(clampMemory(4 * GiB + 12345, limits), 4 * GiB);
  const odd = { ...limits, minMemoryBytes: GiB + 1, maxMemoryBytes: 2 * GiB - 1 };
  assert.equal(clampMemory(0, odd), GiB + 2 ** 20);
  assert.equal(clampMemory(8 * GiB, odd), 2 * GiB - 2 ** 20);
  const d = vzDescription(macSpec({ cpus: 32, memoryBytes: 100 * GiB }), choices());
  assert.equal(d.cpus, 8);
  assert.equal(d.memoryBytes, 16 * GiB);
});

Deno.test("vz description: kernel command lines for the vz console", () => {
  assert.equal(linuxCommandLine(undefined), "console=hvc0");
  assert.equal(linuxCommandLine("quiet"), "quiet console=hvc0");
  assert.equal(linuxCommandLine("console=ttyAMA0,115200 quiet"), "console=hvc0 quiet");
  assert.equal(linuxCommandLine("console=ttyS0 console=hvc0"), "console=hvc0");
  assert.equal(linuxCommandLine("console=tty0 quiet"), "console=tty0 quiet");
});

Deno.test("vz problems: a fine spec has none; each gap is named", () => {
  const base = { host, limits, network: { mode: "nat" } as const, machineId: "new" as const };
  assert.deepEqual(vzProblems(macSpec(), { ...base, hardwareModelSupported: true }), []);
  assert.deepEqual(
    vzProblems(macSpec({ image: { os: "darwin", disk: "/d" } }), base),
    [
      "the image has no auxiliary storage (aux.img)",
      "the image's config.json has no hardwareModelData",
    ],
  );
  assert.match(
    vzProblems(macSpec(), { ...base, hardwareModelSupported: false }).join(),
    /hardware model is not supported on this Mac .*than 15\.1\.1/,
  );
  assert.match(vzProblems(macSpec(), base).join(), /not a VZMacHardwareModel/);
  const noId = macSpec();
  delete noId.image.machineId;
  assert.deepEqual(vzProblems(noId, { ...base, hardwareModelSupported: true }), []);
  assert.match(
    vzProblems(noId, { ...base, machineId: "image", hardwareModelSupported: true }).join(),
    /no machineIdData, which --vz-machine-id=image needs/,
  );
  assert.deepEqual(
    vzProblems(macSpec({ cpus: 9, memoryBytes: GiB / 2 }), {
      ...base,
      hardwareModelSupported: true,
    }),
    [
      "9 CPUs requested; a VM on this Mac can have 1 to 8",
      "0.50 GiB of memory requested; a VM on this Mac can have 1 GiB to 16 GiB",
    ],
  );
  assert.deepEqual(vzProblems(linuxSpec(), base), []);
  assert.deepEqual(vzProblems(linuxSpec(), { ...base, kernelProblem: "bad kernel" }), [
    "bad kernel",
  ]);
  assert.match(
    vzProblems(linuxSpec({ image: { os: "linux", disk: "/d" } }), base).join(),
    /no kernel/,
  );
});

Deno.test("vz problems: unsupported hosts, bridged interfaces, share names", () => {
  const base = { host, limits, network: { mode: "nat" } as const, machineId: "new" as const };
  const off = vzProblems(linuxSpec(), { ...base, host: { ...host, supported: false } });
  assert.equal(off.length, 1);
  assert.match(off[0], /Virtualization is not available on this hardware/);
  assert.deepEqual(
    vzProblems(linuxSpec(), { ...base, network: { mode: "bridged", interface: "en0" } }),
    [],
  );
  assert.deepEqual(
    vzProblems(linuxSpec(), { ...base, network: { mode: "bridged", interface: "en7" } }),
    ["VZ_BRIDGE_INTERFACE=en7 cannot be bridged; interfaces that can: en0"],
  );
  assert.match(
    vzProblems(linuxSpec(), {
      ...base,
      host: { ...host, bridgedInterfaces: [] },
      network: { mode: "bridged", interface: "en0" },
    }).join(),
    /needs the com\.apple\.vm\.networking entitlement/,
  );
  const shares = [
    { name: "a", hostPath: "/a", readOnly: false },
    { name: "a", hostPath: "/b", readOnly: false },
    { name: "x/y", hostPath: "/c", readOnly: false },
  ];
  assert.deepEqual(vzProblems(linuxSpec({ shares }), base), [
    'share name "a": used twice',
    'share name "x/y": not a valid directory name',
  ]);
});

Deno.test("vz problems: the kernel must be an uncompressed arm64 Image", () => {
  const image = new Uint8Array(64);
  image.set([0x41, 0x52, 0x4d, 0x64], 0x38); // "ARM\x64"
  assert.equal(kernelFormatProblem(image), undefined);
  assert.match(kernelFormatProblem(new Uint8Array([0x1f, 0x8b, 8, 0]))!, /gzip-compressed/);
  const zboot = new Uint8Array(64);
  zboot.set([0x4d, 0x5a, 0, 0, 0x7a, 0x69, 0x6d, 0x67]); // "MZ..zimg"
  assert.match(kernelFormatProblem(zboot)!, /EFI zboot/);
  assert.match(kernelFormatProblem(new Uint8Array(64))!, /not an arm64 Linux Image/);
  assert.match(kernelFormatProblem(new Uint8Array(8))!, /not an arm64 Linux Image/);
});

Deno.test("vz limits: the framework's bounds within the host's CPUs and memory", () => {
  assert.deepEqual(vzLimits(host, 8, 24 * GiB), {
    minCpus: 1,
    maxCpus: 8,
    minMemoryBytes: 128 * 2 ** 20,
    maxMemoryBytes: 24 * GiB,
  });
  assert.deepEqual(vzLimits({ ...host, maxCpus: 4, maxMemoryBytes: 8 * GiB }, 8, 24 * GiB), {
    minCpus: 1,
    maxCpus: 4,
    minMemoryBytes: 128 * 2 ** 20,
    maxMemoryBytes: 8 * GiB,
  });
});
