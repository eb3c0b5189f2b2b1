// Finding a vz guest's IP (NAT: bootpd leases then ARP; bridged: packet capture then ARP),
// the control socket's path, the helper liveness check, and clones, with injected sources.

import assert from "node:assert/strict";
import { discoverGuestIp, type GuestIpSources } from "../../src/vm/vz/ip.ts";
import { controlSocketPath, ensureSocketDir, psShowsHelper } from "../../src/vm/vz/record.ts";
import { cloneImageFile, errnoName } from "../../src/vm/vz/clone.ts";
import { vmStateOf } from "../../src/vm/vz/vm.ts";

const MAC = "02:05:00:3e:04:30";
const lease = (ip: string, mac: string, expiresIn: number) =>
  `{\n\tname=g\n\tip_address=${ip}\n\thw_address=1,${mac}\n\tlease=0x${
    (Math.floor(Date.now() / 1000) + expiresIn).toString(16)
  }\n}\n`;

function sources(over: Partial<GuestIpSources> = {}): GuestIpSources & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    leases: () => (calls.push("leases"), Promise.resolve("")),
    neighbours: () => (calls.push("arp"), Promise.resolve("")),
    capture: async function* () {},
    ...over,
  };
}

const base = { mac: MAC, signal: AbortSignal.timeout(5_000), dead: () => undefined, pollMs: 10 };

Deno.test("vz ip: NAT reads bootpd's newest live lease for the MAC (zero-dropped octets)", async () => {
  let n = 0;
  const src = sources({
    leases: () =>
      Promise.resolve(
        ++n < 3 ? "" : lease("192.168.64.9", "2:5:0:3e:4:30", -5) +
          lease("192.168.64.3", "2:5:0:3e:4:30", 600) + lease("192.168.64.4", "2:5:0:3e:4:31", 900),
      ),
  });
  assert.equal(
    await discoverGuestIp({ ...base, network: { mode: "nat" }, sources: src }),
    "192.168.64.3",
  );
  assert.equal(n, 3, "polled until the lease appeared");
});

Deno.test("vz ip: ARP answers when there is no lease; a dead VM stops the search", async () => {
  const arp = "? (192.168.64.5) at 2:5:0:3e:4:30 on bridge100 ifscope [bridge]";
  const src = sources({ neighbours: () => Promise.resolve(arp) });
  assert.equal(
    await discoverGuestIp({ ...base, network: { mode: "nat" }, sources: src }),
    "192.168.64.5",
  );
  await assert.rejects(
    discoverGuestIp({
      ...base,
      network: { mode: "nat" },
      sources: sources(),
      dead: () => "VM error (boom)",
    }),
    /no IP address: VM error \(boom\)/,
  );
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error("pod deleted")), 30);
  await assert.rejects(
    discoverGuestIp({ ...base, signal: ac.signal, network: { mode: "nat" }, sources: sources() }),
    /pod deleted/,
  );
});

Deno.test("vz ip: bridged guests are found from captured frames, never from bootpd", async () => {
  let captured: { iface: string; mac: string } | undefined;
  const src = sources({
    capture: async function* (iface, mac) {
      captured = { iface, mac };
      yield `14:05:00.000001 ${MAC} > ff:ff:ff:ff:ff:ff, ethertype IPv4 (0x0800), length 342: ` +
        "0.0.0.0.68 > 255.255.255.255.67: BOOTP/DHCP, Request from 02:05:00:3e:04:30, length 300";
      await new Promise((r) => setTimeout(r, 20));
      yield `14:05:01.000000 ${MAC} > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: ` +
        "Request who-has 10.20.0.1 tell 10.20.0.57, length 28";
    },
  });
  const ip = await discoverGuestIp({
    ...base,
    network: { mode: "bridged", interface: "en0" },
    sources: src,
  });
  assert.equal(ip, "10.20.0.57");
  assert.deepEqual(captured, { iface: "en0", mac: MAC });
  assert.ok(!src.calls.includes("leases"), "bootpd knows nothing of bridged guests");

  // Without packet capture (no /dev/bpf access), ARP alone, and the failure is told once.
  const told: string[] = [];
  let arpCalls = 0;
  const noCapture = sources({
    capture: async function* () {
      yield* [] as string[];
      throw new Error(
        "tcpdump on en0 exited 1: (cannot open BPF device) /dev/bpf0: Permission denied",
      );
    },
    neighbours: () =>
      Promise.resolve(
        ++arpCalls > 2 ? "? (10.20.0.58) at 2:5:0:3e:4:30 on en0 ifscope [ethernet]" : "",
      ),
  });
  const viaArp = await discoverGuestIp({
    ...base,
    network: { mode: "bridged", interface: "en0" },
    sources: noCapture,
    onCaptureFailed: (why) => told.push(why),
  });
  assert.equal(viaArp, "10.20.0.58");
  assert.equal(told.length, 1);
  assert.match(told[0], /Permission denied/);
});

Deno.test("vz record: the control socket moves out of a too-long work directory", () => {
  assert.equal(
    controlSocketPath("/var/vms/uid-1", "uid-1", "/tmp", 501),
    "/var/vms/uid-1/control.sock",
  );
  const long = `/Users/firstname.lastname/Library/Caches/com.agoda.fleet.virtualization/vms/` +
    `0b4f6c9e-1234-5678-9abc-def012345678`;
  assert.equal(
    controlSocketPath(long, "0b4f6c9e-1234-5678-9abc-def012345678", "/tmp", 501),
    "/tmp/vzk-501/0b4f6c9e-1234-5678-9abc-def012345678.sock",
  );
  assert.equal(controlSocketPath(long, "a/b c", "/tmp", 0), "/tmp/vzk-0/a_b_c.sock");
});

Deno.test("vz record: ps output says whether the helper of this VM is alive", () => {
  const spec = "/vms/uid-1/helper.json";
  assert.ok(psShowsHelper(`Ss   /usr/local/bin/macos-vz-kubelet vm run --spec ${spec}\n`, spec));
  assert.ok(!psShowsHelper(`Z    [deno] <defunct>\n`, spec), "a zombie is not alive");
  assert.ok(!psShowsHelper("S    /usr/bin/vim notes.txt\n", spec), "a reused pid is not ours");
  assert.ok(!psShowsHelper("", spec));
});

Deno.test("vz clone: clonefile, or a clear refusal, or an explicit copy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-clone-" });
  try {
    await Deno.writeTextFile(`${dir}/src`, "data");
    assert.equal(await cloneImageFile(() => 0, `${dir}/src`, `${dir}/a`, false), "clonefile");
    await assert.rejects(
      cloneImageFile(() => -18, `${dir}/src`, `${dir}/b`, false),
      /cannot clone files \(clonefile: EXDEV\); refusing a full copy.*APFS.*--allow-image-copy/,
    );
    assert.equal(await cloneImageFile(() => -45, `${dir}/src`, `${dir}/c`, true), "copy");
    assert.equal(await Deno.readTextFile(`${dir}/c`), "data");
    await assert.rejects(cloneImageFile(() => -28, `${dir}/src`, `${dir}/d`, true), /ENOSPC/);
    assert.equal(errnoName(-99), "errno 99");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vz vm: the helper's states as the runtime's", () => {
  const s = (state: string, ended = false) =>
    vmStateOf({ id: "x", pid: 1, state: state as "running", ended });
  assert.equal(s("starting"), "starting");
  assert.equal(s("running"), "running");
  assert.equal(s("paused"), "running");
  assert.equal(s("stopping"), "stopping");
  assert.equal(s("stopped"), "stopping", "not ended yet: settling");
  assert.equal(s("stopped", true), "stopped");
  assert.equal(s("error", true), "error");
  assert.equal(s("running", true), "error", "ended while running: the helper gave up");
  assert.equal(s("created"), undefined);
});

Deno.test("vz record: a socket directory outside the work dir must be private to this user", async () => {
  const root = await Deno.makeTempDir({ prefix: "vzk-sock-" });
  try {
    await ensureSocketDir(`${root}/vzk-1/a.sock`, `${root}/work`);
    assert.equal((await Deno.stat(`${root}/vzk-1`)).mode! & 0o777, 0o700);
    await ensureSocketDir(`${root}/work/control.sock`, `${root}/work`); // in the work dir: no check
    await Deno.mkdir(`${root}/shared`);
    await Deno.chmod(`${root}/shared`, 0o777);
    await assert.rejects(
      ensureSocketDir(`${root}/shared/a.sock`, `${root}/work`),
      /not a private directory of this user \(owner \d+, mode 777\)/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
