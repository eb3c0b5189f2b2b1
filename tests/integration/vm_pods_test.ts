// Pods on real VMs end to end: a real control plane and registry, the agent with the real
// runtime and the qemu backend, the test guest pulled from the registry. A pod runs with
// its VM's IP and answers over SSH; the VM's console is its log; a second pod waits for
// the only VM slot; deletion leaves no QEMU process, tap, clone or work directory.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { startControlPlane } from "../harness/control_plane.ts";
import { startRegistry } from "../harness/registry.ts";
import { testGuest } from "../harness/guest.ts";
import { type Agent, startAgent } from "../../src/agent.ts";
import { selectRuntime } from "../../src/runtime/select.ts";
import { clusterAccess } from "../../src/kube/objects.ts";
import { linkExists, removeBridge, tapName } from "../../src/network/linux_bridge.ts";
import { pidAlive } from "../../src/vm/qemu/vm.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { adminClients, eventually, nodeConfig, podEvents, testPod } from "../support/world.ts";
import { pushTestGuest } from "../support/guest_image.ts";

const isReady = (p: k8s.V1Pod) =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });
const NODE = "vm-node";

Deno.test({
  name: "vm pods: run on real QEMU guests, wait for a slot, leave nothing behind",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const guest = await testGuest();
    const cp = await startControlPlane();
    const regDir = await Deno.makeTempDir({ prefix: "vzk-vm-registry-" });
    const registry = await startRegistry({ dir: regDir });
    const bridge = `vzkv${Math.floor(Math.random() * 0xffff).toString(16)}`;
    let agent: Agent | undefined;
    try {
      const image = await pushTestGuest(guest, registry.host);
      const config = await nodeConfig(cp, NODE, [
        "--max-vms=1",
        `--qemu-bridge=${bridge}`,
        `--qemu-subnet=10.254.${Math.floor(Math.random() * 250) + 1}.0/24`,
        "--qemu-nat=false",
        "--ssh-readiness-timeout=120",
      ], { VZ_SSH_USER: guest.rootUser, VZ_SSH_PRIVATE_KEY_PATH: guest.privateKeyPath });
      agent = await startAgent(config, {
        log,
        runtime: ({ clients, events, host }) =>
          selectRuntime(config, { events, host, log, ...clusterAccess(clients) }),
      });
      const admin = adminClients(cp);
      const read = (name: string) => admin.core.readNamespacedPod({ name, namespace: "default" });
      const vmPod = (name: string) =>
        testPod(name, NODE, {
          grace: 10,
          containers: [{
            name: "vm",
            image,
            resources: { requests: { cpu: "1", memory: "256Mi" } },
          }],
        });

      let first: Awaited<ReturnType<typeof read>>;
      await t.step("a VM pod becomes Running and Ready with the guest's IP", async () => {
        await admin.core.createNamespacedPod({ namespace: "default", body: vmPod("vm-a") });
        first = await eventually("vm-a Ready", async () => {
          const p = await read("vm-a");
          return isReady(p) && p;
        }, 180_000);
        assert.equal(first.status?.phase, "Running");
        assert.match(first.status?.podIP ?? "", /^10\.254\./);
        const cs = first.status?.containerStatuses?.[0];
        assert.equal(cs?.containerID, `qemu://${first.metadata?.uid}`);
        assert.match(cs?.imageID ?? "", /@sha256:[0-9a-f]{64}$/);
        assert.ok(cs?.state?.running?.startedAt);
        const reasons = (await podEvents(admin, "default", "vm-a")).map((e) => e.reason);
        for (const r of ["Pulling", "Pulled", "Created", "Started"]) {
          assert.ok(reasons.includes(r), r);
        }
      });

      const kubectl = async (args: string[], stdin?: string) => {
        const child = new Deno.Command(cp.kubectl, {
          args: ["--kubeconfig", cp.adminKubeconfig, ...args],
          stdin: stdin === undefined ? "null" : "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        if (stdin !== undefined) {
          const w = child.stdin.getWriter();
          await w.write(new TextEncoder().encode(stdin));
          await w.close();
        }
        const out = await child.output();
        const dec = new TextDecoder();
        return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      };

      await t.step("kubectl exec, logs and port-forward reach the guest", async () => {
        const uname = await kubectl(["exec", "vm-a", "--", "uname", "-s"]);
        assert.equal(uname.stdout, "Linux\n", uname.stderr);
        assert.equal(
          (await kubectl(["exec", "-i", "vm-a", "--", "cat"], "piped in")).stdout,
          "piped in",
        );
        const split = await kubectl([
          "exec",
          "vm-a",
          "--",
          "sh",
          "-c",
          "echo out; echo err >&2; exit 3",
        ]);
        assert.equal(split.code, 3);
        assert.equal(split.stdout, "out\n");
        assert.match(split.stderr, /^err$/m);
        assert.equal((await kubectl(["exec", "vm-a", "--", "no-such-command"])).code, 127);
        // Guest CPU and memory reach /stats/summary through the API server.
        await agent!.runtime.stats(); // a first sample, so the next one has a CPU rate
        const summary = JSON.parse(
          (await kubectl(["get", "--raw", `/api/v1/nodes/${NODE}/proxy/stats/summary`])).stdout,
        );
        const podStats = summary.pods.find((p: { podRef: { name: string } }) =>
          p.podRef.name === "vm-a"
        );
        assert.ok(podStats, "vm-a in /stats/summary");
        const c = podStats.containers[0];
        assert.ok(c.memory.workingSetBytes > 1e6, `guest memory ${c.memory.workingSetBytes}`);
        assert.ok(c.cpu.usageCoreNanoSeconds > 0);
        // A terminal: kubectl's size reaches the guest's pty.
        const inner = `${cp.kubectl} --kubeconfig ${cp.adminKubeconfig} exec -it vm-a -- ` +
          `sh -c 'stty size; test -t 0 && echo is-a-tty; exit 5'`;
        const tty = await new Deno.Command("script", {
          args: ["-qfec", `stty cols 91 rows 33; ${inner}`, "/dev/null"],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const ttyText = new TextDecoder().decode(tty.stdout);
        assert.equal(tty.code, 5, ttyText);
        assert.match(ttyText, /33 91/);
        assert.match(ttyText, /is-a-tty\r\n/);
        // The guest drops our SSH connection: the next exec reconnects.
        await kubectl(["exec", "vm-a", "--", "sh", "-c", "kill -9 $PPID"]);
        const again = await kubectl(["exec", "vm-a", "--", "echo", "reconnected"]);
        assert.equal(again.stdout, "reconnected\n", again.stderr);
        const logs = await kubectl(["logs", "vm-a", "--tail=3"]);
        assert.match(logs.stdout, /guest: sshd started/);

        const pf = new Deno.Command(cp.kubectl, {
          args: ["--kubeconfig", cp.adminKubeconfig, "port-forward", "pod/vm-a", ":22"],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        try {
          const reader = pf.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let seen = "";
          while (!/127\.0\.0\.1:(\d+) -> 22/.test(seen)) seen += (await reader.read()).value ?? "";
          const port = Number(/127\.0\.0\.1:(\d+) -> 22/.exec(seen)![1]);
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          const buf = new Uint8Array(64);
          const n = await conn.read(buf);
          assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^SSH-2\.0-dropbear/);
          conn.close();
          reader.releaseLock();
        } finally {
          pf.kill("SIGTERM");
          await pf.status;
          await pf.stdout.cancel().catch(() => {});
        }
      });

      await t.step("a kubectl exec whose client dies ends its processes in the guest", async () => {
        let lastPs = "";
        const guestSleeps = async () => {
          const ps = await kubectl(["exec", "vm-a", "--", "ps", "-A", "-o", "pid=", "-o", "args="]);
          lastPs = ps.stdout + ps.stderr;
          return ps.stdout.split("\n").filter((l) => /^\d+ sleep 61[12]$/.test(l.trim()));
        };
        // What the terminal showed, for a failure's report (kubectl's errors land there too).
        const transcript = await Deno.makeTempFile({ prefix: "vzk-exec-tty-" });
        for (const tty of [false, true]) {
          const child = new Deno.Command(tty ? "script" : cp.kubectl, {
            args: tty
              ? [
                "-qfec",
                `${cp.kubectl} --kubeconfig ${cp.adminKubeconfig} exec -it vm-a -- ` +
                `sh -c 'sleep 611 & sleep 612'`,
                transcript,
              ]
              : [
                "--kubeconfig",
                cp.adminKubeconfig,
                "exec",
                "vm-a",
                "--",
                "sh",
                "-c",
                "sleep 611 & sleep 612",
              ],
            // script(1) turns an ended stdin into an end-of-file on the terminal; before kubectl
            // has made the terminal raw that ends kubectl's stdin, and the guest's sshd (dropbear)
            // hangs up the pty, sleeps and all. A user at a terminal keeps it open: so does this.
            stdin: tty ? "piped" : "null",
            stdout: "null",
            stderr: "null",
          }).spawn();
          let ended = "";
          child.status.then((s) => ended = ` (the client had exited with ${s.code})`);
          await eventually(
            `both sleeps running (tty ${tty})`,
            async () => (await guestSleeps()).length === 2,
          ).catch((e) => {
            child.kill("SIGKILL");
            const shown = tty ? Deno.readTextFileSync(transcript) : "";
            throw new Error(
              `${e.message}${ended}; last ps: ${JSON.stringify(lastPs)}; terminal: ` +
                JSON.stringify(shown),
            );
          });
          // Gone without a goodbye: the API server drops its stream to the agent.
          if (tty) {
            await new Deno.Command("pkill", { args: ["-KILL", "-P", String(child.pid)] }).output();
          }
          child.kill("SIGKILL");
          await child.status;
          if (tty) await child.stdin.close().catch(() => {});
          await eventually(
            `the guest's sleeps ended (tty ${tty})`,
            async () => (await guestSleeps()).length === 0,
            20_000,
          );
        }
        await Deno.remove(transcript);
      });

      await t.step(
        "kubectl attach -i is the VM's serial console, for two callers at once",
        async () => {
          const attachers = [0, 1].map(() =>
            new Deno.Command(cp.kubectl, {
              args: ["--kubeconfig", cp.adminKubeconfig, "attach", "-i", "vm-a"],
              stdin: "piped",
              stdout: "piped",
              stderr: "null",
            }).spawn()
          );
          const readers = attachers.map((a) => {
            const r = { seen: "" };
            void a.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
              new WritableStream({ write: (c) => void (r.seen += c) }),
            ).catch(() => {});
            return r;
          });
          try {
            const input = attachers[0].stdin.getWriter();
            // The first line may reach the guest before the second caller is attached: repeat.
            await eventually(
              "both callers see the console answer",
              async () => {
                await input.write(new TextEncoder().encode("hello-console\n"));
                return readers.every((r) => r.seen.includes("guest: console read: hello-console"));
              },
              30_000,
              1_000,
            );
            const logs = await kubectl(["logs", "vm-a", "--tail=20"]);
            assert.match(logs.stdout, /guest: console read: hello-console/);
          } finally {
            for (const a of attachers) {
              a.kill("SIGKILL");
              await a.status;
            }
          }
        },
      );

      await t.step("the VM's console is the container's log", async () => {
        const stream = await agent!.runtime.containerLogs("default", "vm-a", "vm", {
          tailLines: 50,
        });
        const text = await new Response(stream).text();
        assert.match(text, /guest: sshd started/);
        // kubectl's options on a console that has no times of its own.
        const stamped = (await kubectl(["logs", "vm-a", "--timestamps", "--tail=2"])).stdout;
        const lines = stamped.trimEnd().split("\n");
        assert.equal(lines.length, 2, stamped);
        for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z /);
        assert.equal((await kubectl(["logs", "vm-a", "--tail=0"])).stdout, "");
        assert.match((await kubectl(["logs", "vm-a", "--since=1h"])).stdout, /guest: sshd started/);
        assert.equal(
          (await kubectl(["logs", "vm-a", "--since-time=2999-01-01T00:00:00Z"])).stdout,
          "",
        );
      });

      await t.step("a second VM pod waits for the only slot, then runs", async () => {
        await admin.core.createNamespacedPod({ namespace: "default", body: vmPod("vm-b") });
        const waiting = await eventually("vm-b waiting for a slot", async () => {
          const p = await read("vm-b");
          const w = p.status?.containerStatuses?.[0]?.state?.waiting;
          return w?.reason === "WaitingForVMSlot" && w;
        }, 30_000);
        assert.equal(waiting.message, "waiting for a VM slot (1/1 in use)");
        assert.equal((await read("vm-b")).status?.phase, "Pending");

        const uid = first!.metadata!.uid!;
        const workDir = `${config.cacheDir}/vms/${uid}`;
        const pid = JSON.parse(await Deno.readTextFile(`${workDir}/vm.json`)).pid;
        const tap = await tapName(uid);
        assert.ok(pidAlive(pid));
        assert.ok(await linkExists(tap));

        // A follower of the log ends when the pod goes (CI scripts wait on it).
        const follower = new Deno.Command(cp.kubectl, {
          args: ["--kubeconfig", cp.adminKubeconfig, "logs", "-f", "vm-a"],
          stdout: "null",
          stderr: "null",
        }).spawn();
        await new Promise((r) => setTimeout(r, 1_000));
        await admin.core.deleteNamespacedPod({ name: "vm-a", namespace: "default" });
        const t0 = Date.now();
        await eventually("vm-a gone", () => read("vm-a").then(() => false, () => true), 60_000);
        // The guest powered off when asked, well inside the 10 s grace period.
        assert.ok(Date.now() - t0 < 8_000, `deleted after ${Date.now() - t0} ms`);
        const events = (await podEvents(admin, "default", "vm-a")).map((e) => e.reason);
        assert.ok(events.includes("Killing"));
        assert.equal(pidAlive(pid), false, "QEMU process gone");
        const followerEnded = await Promise.race([
          follower.status.then(() => true),
          new Promise<false>((r) => setTimeout(() => r(false), 30_000)),
        ]);
        if (!followerEnded) follower.kill("SIGKILL");
        assert.ok(followerEnded, "kubectl logs -f ended with the pod");
        assert.equal(await linkExists(tap), false, "tap gone");
        await assert.rejects(Deno.stat(workDir), "work directory (clone) gone");

        await eventually("vm-b Ready", async () => {
          const p = await read("vm-b");
          return isReady(p);
        }, 180_000);
      });

      await t.step(
        "an agent restart adopts the running VM; a VM whose pod went away is removed",
        async () => {
          const before = await read("vm-b");
          const pidOf = async (uid: string) =>
            JSON.parse(await Deno.readTextFile(`${config.cacheDir}/vms/${uid}/vm.json`)).pid;
          const pid = await pidOf(before.metadata!.uid!);
          await agent!.stop();
          agent = undefined;
          assert.ok(pidAlive(pid), "the VM outlives the agent");
          agent = await startAgent(config, {
            log,
            runtime: ({ clients, events, host }) =>
              selectRuntime(config, { events, host, log, ...clusterAccess(clients) }),
          });
          // Still the same VM: same QEMU process and address, Ready again once SSH answers.
          const after = await eventually("vm-b Ready after restart", async () => {
            const p = await read("vm-b");
            return isReady(p) &&
              p;
          }, 60_000);
          assert.equal(after.status?.podIP, before.status?.podIP);
          assert.equal(await pidOf(before.metadata!.uid!), pid);
          assert.ok(pidAlive(pid));

          // Now the pod disappears while the agent is away: its VM must not survive.
          await agent!.stop();
          agent = undefined;
          await admin.core.deleteNamespacedPod({
            name: "vm-b",
            namespace: "default",
            gracePeriodSeconds: 0,
          });
          await eventually(
            "vm-b gone from the API",
            () => read("vm-b").then(() => false, () => true),
          );
          const tap = await tapName(before.metadata!.uid!);
          agent = await startAgent(config, {
            log,
            runtime: ({ clients, events, host }) =>
              selectRuntime(config, { events, host, log, ...clusterAccess(clients) }),
          });
          await eventually("orphan VM stopped", () => !pidAlive(pid), 20_000);
          assert.equal(await linkExists(tap), false, "orphan tap removed");
          await assert.rejects(Deno.stat(`${config.cacheDir}/vms/${before.metadata!.uid}`));
        },
      );

      await t.step("a killed QEMU process: honest status, Warning event, restart", async () => {
        await admin.core.createNamespacedPod({ namespace: "default", body: vmPod("vm-c") });
        const ready = await eventually("vm-c Ready", async () => {
          const p = await read("vm-c");
          return isReady(p) && p;
        }, 180_000);
        const uid = ready.metadata!.uid!;
        const pid =
          JSON.parse(await Deno.readTextFile(`${config.cacheDir}/vms/${uid}/vm.json`)).pid;
        Deno.kill(pid, "SIGKILL");
        const dead = await eventually("vm-c terminated", async () => {
          const cs = (await read("vm-c")).status?.containerStatuses?.[0];
          return (cs?.state?.terminated || cs?.lastState?.terminated ||
            cs?.state?.waiting?.reason === "CrashLoopBackOff") && cs;
        }, 30_000);
        const ev = await eventually("Failed event", async () => {
          const e = (await podEvents(admin, "default", "vm-c")).find((x) => x.reason === "Failed");
          return e;
        });
        assert.match(ev.message ?? "", /ended without a shutdown: killed or crashed/);
        assert.ok(dead);
        // restartPolicy Always: a fresh VM after the back-off.
        const again = await eventually("vm-c restarted and Ready", async () => {
          const p = await read("vm-c");
          return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 &&
            isReady(p) && p;
        }, 120_000);
        assert.equal(again.status?.phase, "Running");
        await admin.core.deleteNamespacedPod({ name: "vm-c", namespace: "default" });
        await eventually("vm-c gone", () => read("vm-c").then(() => false, () => true), 60_000);
      });

      await t.step("deleting the last pod frees everything", async () => {
        await admin.core.createNamespacedPod({ namespace: "default", body: vmPod("vm-b") });
        await eventually("new vm-b Ready", async () => {
          const p = await read("vm-b");
          return isReady(p);
        }, 180_000);
        const p = await read("vm-b");
        const workDir = `${config.cacheDir}/vms/${p.metadata!.uid}`;
        await admin.core.deleteNamespacedPod({ name: "vm-b", namespace: "default" });
        await eventually("vm-b gone", () => read("vm-b").then(() => false, () => true), 60_000);
        await assert.rejects(Deno.stat(workDir));
        const left = [...Deno.readDirSync(`${config.cacheDir}/vms`)].filter((e) =>
          !e.name.startsWith(".")
        );
        assert.deepEqual(left, []);
      });
      await t.step(
        "imagePullSecrets: good credentials pull, bad ones name the registry",
        async () => {
          const privateImage = image.replace(registry.host, registry.authHost);
          const dockerconfig = (password: string) => ({
            auths: {
              [registry.authHost]: { auth: btoa(`${registry.username}:${password}`) },
            },
          });
          for (
            const [name, password] of [["pull-good", registry.password], ["pull-bad", "wrong"]]
          ) {
            await admin.core.createNamespacedSecret({
              namespace: "default",
              body: {
                metadata: { name },
                type: "kubernetes.io/dockerconfigjson",
                data: { ".dockerconfigjson": btoa(JSON.stringify(dockerconfig(password))) },
              },
            });
          }
          // A fresh cache, so the image really comes from the protected registry.
          const withSecret = (name: string, secret: string) => {
            const pod = vmPod(name);
            pod.spec!.containers[0].image = privateImage;
            pod.spec!.containers[0].imagePullPolicy = "Always";
            pod.spec!.imagePullSecrets = [{ name: secret }];
            return pod;
          };
          await admin.core.createNamespacedPod({
            namespace: "default",
            body: withSecret("private-bad", "pull-bad"),
          });
          await admin.core.createNamespacedPod({
            namespace: "default",
            body: withSecret("private-ok", "pull-good"),
          });
          const bad = await eventually("private-bad ErrImagePull", async () => {
            const w = (await read("private-bad")).status?.containerStatuses?.[0]?.state?.waiting;
            return (w?.reason === "ErrImagePull" || w?.reason === "ImagePullBackOff") && w;
          }, 60_000);
          assert.ok(bad.message?.includes(registry.authHost), String(bad.message));
          assert.ok(!bad.message?.includes("wrong"), "no password in the message");
          const ev = (await podEvents(admin, "default", "private-bad")).find((e) =>
            e.reason === "Failed"
          );
          assert.ok(ev?.message?.includes(registry.authHost), String(ev?.message));
          await eventually("private-ok Ready", async () => {
            const p = await read("private-ok");
            return isReady(p);
          }, 180_000);
          for (const name of ["private-bad", "private-ok"]) {
            await admin.core.deleteNamespacedPod({ name, namespace: "default" });
          }
          for (const name of ["private-bad", "private-ok"]) {
            await eventually(
              `${name} gone`,
              () => read(name).then(() => false, () => true),
              60_000,
            );
          }
        },
      );
      await t.step(
        "postStart hooks run in the guest before Ready; a failing one fails the start",
        async () => {
          const hooked = (name: string, script: string) => {
            const pod = vmPod(name);
            pod.spec!.containers[0].lifecycle = {
              postStart: { exec: { command: ["sh", "-c", script] } },
            };
            return pod;
          };
          await admin.core.createNamespacedPod({
            namespace: "default",
            body: hooked("hook-ok", "echo hook-ran > /tmp/hook"),
          });
          await eventually("hook-ok Ready", async () => isReady(await read("hook-ok")), 180_000);
          assert.equal(
            (await kubectl(["exec", "hook-ok", "--", "cat", "/tmp/hook"])).stdout,
            "hook-ran\n",
          );
          await admin.core.deleteNamespacedPod({ name: "hook-ok", namespace: "default" });
          await eventually(
            "hook-ok gone",
            () => read("hook-ok").then(() => false, () => true),
            60_000,
          );

          await admin.core.createNamespacedPod({
            namespace: "default",
            body: hooked("hook-bad", "echo broken >&2; exit 7"),
          });
          const ev = await eventually(
            "FailedPostStartHook",
            async () =>
              (await podEvents(admin, "default", "hook-bad")).find((e) =>
                e.reason === "FailedPostStartHook"
              ),
            180_000,
          );
          assert.match(ev.message ?? "", /exited 7: broken/);
          assert.equal(isReady(await read("hook-bad")), false);
          await admin.core.deleteNamespacedPod({ name: "hook-bad", namespace: "default" });
          await eventually(
            "hook-bad gone",
            () => read("hook-bad").then(() => false, () => true),
            60_000,
          );
        },
      );
      await t.step("an image reference that cannot parse waits as InvalidImageName", async () => {
        const bad = vmPod("bad-ref");
        bad.spec!.containers[0].image = "not a ref!!";
        await admin.core.createNamespacedPod({ namespace: "default", body: bad });
        const w = await eventually("InvalidImageName", async () => {
          const s = (await read("bad-ref")).status?.containerStatuses?.[0]?.state?.waiting;
          return s?.reason === "InvalidImageName" && s;
        }, 30_000);
        assert.match(w.message ?? "", /invalid image reference "not a ref!!"/);
        const failed = async () =>
          (await podEvents(admin, "default", "bad-ref")).filter((e) => e.reason === "Failed")
            .reduce((n, e) => n + (e.count ?? 1), 0);
        const before = await failed();
        await new Promise((r) => setTimeout(r, 3_000));
        assert.equal(await failed(), before, "not retried");
        await admin.core.deleteNamespacedPod({ name: "bad-ref", namespace: "default" });
        await eventually("bad-ref gone", () => read("bad-ref").then(() => false, () => true));
      });
    } finally {
      await agent?.stop();
      await registry.stop();
      await cp.stop();
      await removeBridge(bridge).catch(() => {});
      await Deno.remove(regDir, { recursive: true }).catch(() => {});
    }
  },
});
