// Pure parts of the runtime and its neighbours that had no tests of their own: admission,
// the qemu command line, the pod work queue and VM slots.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { admitPod } from "../../src/runtime/admission.ts";
import { qemuArgs } from "../../src/vm/qemu/args.ts";
import { createWorkQueue } from "../../src/pods/queue.ts";
import { VmSlots } from "../../src/runtime/slots.ts";

const ctx = {
  limits: { minCpus: 1, maxCpus: 8, minMemoryBytes: 2 ** 30, maxMemoryBytes: 16 * 2 ** 30 },
  dockerReachable: false,
  dockerHost: "unix:///var/run/docker.sock",
};

const pod = (containers: k8s.V1Container[], init?: k8s.V1Container[]): k8s.V1Pod => ({
  metadata: { name: "p", namespace: "ns" },
  spec: { containers, initContainers: init },
});

Deno.test("admission: a plain VM pod is admitted", () => {
  const vm = { name: "vm", image: "r/vm:1", resources: { requests: { cpu: "2", memory: "4Gi" } } };
  assert.deepEqual(admitPod(pod([vm]), ctx), []);
  assert.deepEqual(admitPod(pod([{ name: "vm", image: "r/vm:1" }]), ctx), [], "defaults apply");
});

Deno.test("admission: every problem names the field and the fix", () => {
  assert.deepEqual(admitPod(pod([]), ctx), [
    "spec.containers: the pod has no containers; the first container is the VM",
  ]);
  const problems = admitPod(
    pod([{
      name: "vm",
      image: " ",
      resources: { requests: { cpu: "500m", memory: "lots" } },
    }]),
    ctx,
  );
  assert.equal(problems.length, 3);
  assert.match(problems[0], /^spec\.containers\[0\] \(vm\)\.image: .*set it to a VM image/);
  assert.match(problems[1], /requests\.cpu: "500m" is not a whole number of CPUs/);
  assert.match(problems[2], /requests\.memory: "lots" is not a valid memory quantity/);
  const big = admitPod(
    pod([{ name: "vm", image: "i", resources: { limits: { cpu: "64", memory: "512Mi" } } }]),
    ctx,
  );
  assert.match(big[0], /64 CPUs is outside what this node can give a VM \(1 to 8\)/);
  assert.match(big[1], /512Mi is outside .* \(1Gi to 16Gi\)/);
});

Deno.test("admission: sidecars need Docker and an image", () => {
  const problems = admitPod(
    pod([{ name: "vm", image: "i" }, { name: "side" }], [{ name: "init", image: "busybox" }]),
    ctx,
  );
  assert.match(problems[0], /sidecar containers \(side, init\) need Docker.*DOCKER_HOST/);
  assert.match(problems[1], /spec\.containers\[1\] \(side\)\.image: no image/);
  assert.deepEqual(
    admitPod(pod([{ name: "vm", image: "i" }, { name: "s", image: "b" }]), {
      ...ctx,
      dockerReachable: true,
    }),
    [],
  );
});

Deno.test("qemu args: a Linux guest with direct kernel boot on a tap", () => {
  const args = qemuArgs(
    {
      id: "uid-1",
      name: "ns/p",
      cpus: 2,
      memoryBytes: 512 * 2 ** 20,
      image: {
        os: "linux",
        disk: "/d",
        kernel: "/k",
        initrd: "/i",
        cmdline: "console=ttyS0 quiet",
      },
      workDir: "/w",
    },
    {
      disk: "/w/disk.qcow2",
      qmpSocket: "/w/qmp.sock",
      consoleSocket: "/w/console.sock",
      consoleLog: "/w/console.log",
      pidFile: "/w/pid",
    },
    { accel: "tcg", arch: "x86_64", tap: "vzkt1", mac: "02:00:00:00:00:01" },
  );
  const after = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(after("-machine"), "q35,accel=tcg");
  assert.equal(after("-cpu"), "max");
  assert.equal(after("-smp"), "2");
  assert.equal(after("-m"), "512M");
  assert.equal(after("-serial"), "chardev:console");
  assert.equal(
    after("-chardev"),
    "socket,id=console,path=/w/console.sock,server=on,wait=off," +
      "logfile=/w/console.log,logappend=on",
  );
  assert.equal(after("-qmp"), "unix:/w/qmp.sock,server=on,wait=off");
  assert.match(after("-drive"), /^file=\/w\/disk\.qcow2,if=virtio,format=qcow2/);
  assert.equal(after("-netdev"), "tap,id=net0,ifname=vzkt1,script=no,downscript=no");
  assert.ok(args.includes("virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01"));
  assert.equal(after("-kernel"), "/k");
  assert.equal(after("-initrd"), "/i");
  assert.equal(after("-append"), "console=ttyS0 quiet");
  assert.ok(args.includes("-daemonize"));
  const kvm = qemuArgs(
    {
      id: "u",
      name: "n",
      cpus: 1,
      memoryBytes: 1,
      image: { os: "linux", disk: "/d" },
      workDir: "/w",
    },
    { disk: "/d", qmpSocket: "/q", consoleSocket: "/s", consoleLog: "/c", pidFile: "/p" },
    { accel: "kvm", arch: "aarch64", tap: "t", mac: "m" },
  );
  assert.equal(kvm[kvm.indexOf("-machine") + 1], "virt,accel=kvm");
  assert.equal(kvm[kvm.indexOf("-cpu") + 1], "host");
  assert.equal(kvm[kvm.indexOf("-m") + 1], "64M", "at least 64 MiB");
  assert.equal(kvm.includes("-kernel"), false);
});

Deno.test("work queue: one worker per key, re-run when dirtied, retries back off", async () => {
  const q = createWorkQueue({ baseDelayMs: 10, maxDelayMs: 40 });
  const seen: string[] = [];
  let active = 0;
  let maxActive = 0;
  let failuresLeft = 2;
  const delays: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  q.run(4, async (key) => {
    active++;
    maxActive = Math.max(maxActive, active);
    seen.push(key);
    if (key === "ns/a" && seen.length === 1) await gate;
    active--;
    if (key === "ns/fail" && failuresLeft-- > 0) throw new Error("boom");
  }, (_key, _err, delay) => delays.push(delay));
  q.add("ns/a");
  await new Promise((r) => setTimeout(r, 5));
  q.add("ns/a"); // while a worker holds it: marked dirty, not run beside it
  q.add("ns/a");
  q.add("ns/fail");
  await new Promise((r) => setTimeout(r, 5));
  release();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen.filter((k) => k === "ns/a").length, 2, "dirty key ran once more");
  assert.equal(seen.filter((k) => k === "ns/fail").length, 3, "failed twice, then succeeded");
  assert.deepEqual(delays, [10, 20]);
  assert.ok(maxActive <= 2);
  await q.shutdown();
  q.add("ns/late");
  assert.equal(q.length, 0, "closed queues take nothing");
});

Deno.test("slots: at most max holders, waiters in order, abort leaves the line", async () => {
  const slots = new VmSlots(1);
  const a = slots.tryAcquire()!;
  assert.equal(slots.tryAcquire(), undefined);
  const order: string[] = [];
  const abort = new AbortController();
  const b = slots.acquire().then((h) => (order.push("b"), h));
  const gone = slots.acquire(abort.signal).then(() => order.push("aborted one"), () => "rejected");
  const c = slots.acquire().then((h) => (order.push("c"), h));
  abort.abort(new Error("deleted"));
  assert.equal(await gone, "rejected");
  a.release();
  a.release(); // twice: counted once
  const hb = await b;
  assert.equal(slots.used, 1);
  hb.release();
  (await c).release();
  assert.deepEqual(order, ["b", "c"]);
  assert.equal(slots.used, 0);
});
