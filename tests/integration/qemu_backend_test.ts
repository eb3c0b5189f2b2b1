// The qemu backend with a real guest: boot, DHCP on the agent's bridge, SSH, stop, clean-up,
// crash reporting, and adoption by a second backend (an agent restart).

import assert from "node:assert/strict";
import { createQemuBackend, type QemuBackend } from "../../src/vm/qemu/backend.ts";
import { linkExists, removeBridge } from "../../src/network/linux_bridge.ts";
import { pidAlive, type QemuVm } from "../../src/vm/qemu/vm.ts";
import { connectSsh, waitForSsh } from "../../src/guest/ssh.ts";
import { parseDnsmasqLeases } from "../../src/network/leases.ts";
import { sameMac } from "../../src/network/mac.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import type { VmSpec } from "../../src/vm/types.ts";
import { testGuest } from "../harness/guest.ts";

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });
const rand = () => Math.floor(Math.random() * 0xffff).toString(16).padStart(4, "0");

Deno.test({
  name: "qemu backend: boot, IP, ssh, stop, destroy, crash, adopt",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const guest = await testGuest();
    const stateDir = await Deno.makeTempDir({ prefix: "vzk-qemu-state-" });
    const bridge = `vzkt${rand()}`;
    const subnet = `10.252.${Math.floor(Math.random() * 250) + 1}.0/24`;
    const backendOpts = { stateDir, bridge, subnet, nat: false, maxRunning: 2, log };
    let backend: QemuBackend | undefined = await createQemuBackend(backendOpts);
    const spec = (id: string): VmSpec => ({
      id,
      name: `test/${id}`,
      cpus: 1,
      memoryBytes: 256 * 2 ** 20,
      workDir: `${stateDir}/${id}`,
      image: {
        os: "linux",
        disk: guest.disk,
        kernel: guest.kernel,
        initrd: guest.initrd,
        cmdline: guest.cmdline,
      },
    });
    const creds = { user: guest.user, privateKeyPath: guest.privateKeyPath };
    try {
      assert.ok(await linkExists(bridge), "bridge created");
      assert.deepEqual(backend.validate({ ...spec("x"), image: { os: "darwin", disk: "d" } }), [
        "image is for darwin; the qemu backend runs Linux guests only",
        "image has no kernel; the qemu backend boots Linux images directly",
      ]);

      const vm = await backend.create(spec("vm-a")) as QemuVm;
      let adopted: QemuVm | undefined;
      const adoptedVm = () => {
        assert.ok(adopted, "adopted in the previous step");
        return adopted;
      };
      await t.step("boots, gets an IP from the agent's DHCP, answers SSH", async () => {
        await vm.start();
        assert.equal(vm.state, "running");
        assert.ok(pidAlive(vm.pid));
        const ip = await vm.ipAddress(AbortSignal.timeout(60_000));
        assert.match(ip, new RegExp(`^${subnet.split(".").slice(0, 3).join("\\.")}\\.`));
        const ssh = await waitForSsh({ host: ip, credentials: creds }, 60_000);
        let out = "";
        const dec = new TextDecoder();
        const code = await ssh.exec(["sh", "-c", 'uname -s; echo "$1"; exit 3', "sh", "a b;$(x)"], {
          stdout: (d) => void (out += dec.decode(d)),
        });
        assert.equal(code, 3);
        assert.equal(out, "Linux\na b;$(x)\n");
        let err = "";
        assert.equal(
          await ssh.exec(["cat"], { stdin: "piped in", stdout: (d) => void (out = dec.decode(d)) }),
          0,
        );
        assert.equal(out, "piped in");
        assert.equal(
          await ssh.exec(["nonexistent-cmd"], { stderr: (d) => void (err += dec.decode(d)) }),
          127,
        );
        assert.match(err, /not found/);
        ssh.close();
        // Password login works too.
        const pw = await connectSsh({
          host: ip,
          credentials: { user: guest.user, password: guest.password },
        });
        assert.equal(await pw.exec(["true"]), 0);
        pw.close();
        const console = await Deno.readTextFile(vm.consoleLogPath());
        assert.match(console, /guest: sshd started/);
      });

      await t.step("a second backend (agent restart) adopts the running VM", async () => {
        await backend!.close();
        backend = await createQemuBackend(backendOpts);
        assert.deepEqual(await backend.leftovers(), ["vm-a"]);
        adopted = await backend.adopt!(spec("vm-a")) as QemuVm;
        assert.ok(adopted, "adopted");
        assert.equal(adopted.state, "running");
        assert.equal(adopted.mac, vm.mac);
        const ip = await adopted.ipAddress(AbortSignal.timeout(5_000));
        const ssh = await waitForSsh({ host: ip, credentials: creds }, 20_000);
        assert.equal(await ssh.exec(["true"]), 0);
        ssh.close();
      });

      await t.step("stop and destroy leave nothing behind", async () => {
        const adopted = adoptedVm();
        {
          const pid = adopted.pid;
          await adopted.stop({ graceful: true, timeoutMs: 3_000 });
          assert.equal(adopted.state, "stopped");
          assert.equal(pidAlive(pid), false);
          const tap = (JSON.parse(await Deno.readTextFile(`${stateDir}/vm-a/vm.json`))).tap;
          const leasesBefore = await Deno.readTextFile(backend!.leasesFile);
          assert.ok(parseDnsmasqLeases(leasesBefore).some((l) => sameMac(l.mac, adopted.mac)));
          await adopted.destroy();
          assert.equal(await linkExists(tap), false, "tap removed");
          // dnsmasq rewrites its leases file once it has handled the DHCPRELEASE.
          let leasesAfter = "";
          for (let i = 0; i < 30; i++) {
            leasesAfter = await Deno.readTextFile(backend!.leasesFile);
            if (!parseDnsmasqLeases(leasesAfter).some((l) => sameMac(l.mac, adopted.mac))) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.ok(
            !parseDnsmasqLeases(leasesAfter).some((l) => sameMac(l.mac, adopted.mac)),
            `lease released: ${leasesAfter}`,
          );
          await assert.rejects(Deno.stat(`${stateDir}/vm-a`));
          assert.deepEqual(await backend!.leftovers(), []);
        }
      });

      await t.step("a killed QEMU process surfaces as a VM error with a reason", async () => {
        const vm2 = await backend!.create(spec("vm-b")) as QemuVm;
        const states: string[] = [];
        vm2.onStateChange((s, r) => states.push(`${s}:${r ?? ""}`));
        await vm2.start();
        Deno.kill(vm2.pid!, "SIGKILL");
        for (let i = 0; i < 50 && vm2.state !== "error"; i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(vm2.state, "error");
        assert.match(vm2.reason ?? "", /ended without a shutdown: killed or crashed/);
        await vm2.destroy();
      });
    } finally {
      await backend?.close();
      for await (const e of Deno.readDir(stateDir)) {
        const rec = await Deno.readTextFile(`${stateDir}/${e.name}/vm.json`).catch(() => "");
        const pid = rec ? JSON.parse(rec).pid : undefined;
        if (pidAlive(pid)) Deno.kill(pid, "SIGKILL");
      }
      await removeBridge(bridge).catch(() => {});
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "qemu backend: NAT for the bridge's subnet (forwarding on, one MASQUERADE rule)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const stateDir = await Deno.makeTempDir({ prefix: "vzk-qemu-nat-" });
    const bridge = `vzkn${rand()}`;
    const third = Math.floor(Math.random() * 250) + 1;
    const cidr = `10.248.${third}.0/24`;
    const rule = [
      "-t",
      "nat",
      "-C",
      "POSTROUTING",
      "-s",
      cidr,
      "!",
      "-d",
      cidr,
      "-j",
      "MASQUERADE",
    ];
    const opts = { stateDir, bridge, subnet: cidr, nat: true, maxRunning: 1, log };
    let backend: QemuBackend | undefined;
    try {
      backend = await createQemuBackend(opts);
      const check = await new Deno.Command("iptables", { args: rule, stderr: "null" }).output();
      assert.ok(check.success, "MASQUERADE rule installed");
      assert.equal((await Deno.readTextFile("/proc/sys/net/ipv4/ip_forward")).trim(), "1");
      // A second start (agent restart) does not add the rule twice.
      await backend.close();
      backend = await createQemuBackend(opts);
      const listed = await new Deno.Command("iptables", {
        args: ["-t", "nat", "-S", "POSTROUTING"],
        stdout: "piped",
      }).output();
      const rules = new TextDecoder().decode(listed.stdout).split("\n")
        .filter((l) => l.includes(cidr) && l.includes("MASQUERADE"));
      assert.equal(rules.length, 1, rules.join("\n"));
    } finally {
      await backend?.close();
      await new Deno.Command("iptables", {
        args: ["-t", "nat", "-D", ...rule.slice(3)],
        stderr: "null",
      })
        .output().catch(() => {});
      await removeBridge(bridge).catch(() => {});
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
