// Health and lifecycle of VM pods on real QEMU guests through kubectl: readiness, liveness
// and startup probes with exec, httpGet and tcpSocket handlers against the guest; restart
// policy after a guest power-off or a killed VM; crash-loop back-off from the container
// status; 20 power-off/restart cycles with the VM slots accounted after each; preStop hooks
// seen before the guest goes; activeDeadlineSeconds; a new image restarting the container.
// The agent runs with a short crash-loop back-off (1 s doubling to 2 s) so cycles are quick;
// the kubelet's own 10 s to 5 min are the default and are unit-tested.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { eventually, podEvents, testPod } from "../support/world.ts";
import { isReady, startVmWorld, type VmWorld } from "../support/vm_world.ts";
import { pushTestGuest } from "../support/guest_image.ts";
import { strategicMerge } from "../../src/kube/client.ts";

const NODE = "life-node";

function vmPod(
  w: VmWorld,
  name: string,
  vm: Partial<k8s.V1Container> = {},
  spec: Partial<k8s.V1PodSpec> = {},
) {
  const p = testPod(name, NODE, {
    grace: 10,
    containers: [{
      name: "vm",
      image: w.image,
      resources: { requests: { cpu: "1", memory: "256Mi" } },
      ...vm,
    }],
  });
  Object.assign(p.spec!, spec);
  return p;
}

const vmStatus = (p: k8s.V1Pod) => p.status?.containerStatuses?.[0];
const condition = (p: k8s.V1Pod, type: string) =>
  p.status?.conditions?.find((c) => c.type === type);
const sh = (script: string) => ["sh", "-c", script];

Deno.test({
  name: "lifecycle: probes, restart policy, back-off, hooks and deadlines on QEMU guests",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const w = await startVmWorld({
      node: NODE,
      args: ["--max-vms=3"],
      restartBackoff: { initialMs: 1_000, maxMs: 2_000 },
    });
    const exec = (pod: string, ...cmd: string[]) => w.kubectl(["exec", pod, "--", ...cmd]);
    const slotsInUse = () =>
      Number(/(\d+)\/3 VM slots/.exec(w.agent().runtime.status().message)?.[1]);
    try {
      await t.step("readiness: an exec probe holds Ready back until a file exists", async () => {
        await w.create(vmPod(w, "ready-file", {
          readinessProbe: {
            exec: { command: ["test", "-f", "/tmp/ready"] },
            periodSeconds: 1,
            failureThreshold: 1,
          },
        }));
        const running = await eventually("ready-file started, not ready", async () => {
          const p = await w.read("ready-file");
          return vmStatus(p)?.started === true && p;
        }, 180_000);
        assert.equal(isReady(running), false);
        assert.equal(vmStatus(running)?.ready, false);
        assert.equal(running.status?.phase, "Running");
        assert.equal(condition(running, "Ready")?.reason, "ContainersNotReady");
        assert.equal(condition(running, "Ready")?.message, "containers with unready status: [vm]");
        const unhealthy = await eventually(
          "Unhealthy event",
          async () =>
            (await podEvents(w.admin, "default", "ready-file")).find((e) =>
              e.reason === "Unhealthy"
            ),
        );
        assert.match(
          unhealthy.message ?? "",
          /^Readiness probe failed: command \["test","-f","\/tmp\/ready"\] exited 1/,
        );
        assert.equal((await exec("ready-file", "touch", "/tmp/ready")).code, 0);
        const ready = await w.waitReady("ready-file", 30_000);
        assert.equal(condition(ready, "Ready")?.reason, undefined, "no stale reason beside True");
        assert.equal(condition(ready, "ContainersReady")?.status, "True");
        await w.remove("ready-file");
      });

      await t.step("httpGet and tcpSocket probes against a server in the guest", async () => {
        await w.create(vmPod(w, "web", {
          ports: [{ name: "web", containerPort: 8080 }],
          lifecycle: {
            postStart: {
              exec: { command: sh("mkdir -p /www && echo up > /www/ok && httpd -p 8080 -h /www") },
            },
          },
          readinessProbe: {
            httpGet: { path: "/ok", port: "web" },
            periodSeconds: 1,
            failureThreshold: 1,
          },
          livenessProbe: { tcpSocket: { port: 22 }, periodSeconds: 1 },
        }));
        await w.waitReady("web");
        await exec("web", "killall", "httpd");
        await eventually(
          "web not ready without its server",
          async () => !isReady(await w.read("web")),
          30_000,
        );
        const ev = (await podEvents(w.admin, "default", "web")).find((e) =>
          e.reason === "Unhealthy"
        );
        assert.match(
          ev?.message ?? "",
          /^Readiness probe failed: Get "http:\/\/10\.[\d.]+:8080\/ok": /,
        );
        await exec("web", "httpd", "-p", "8080", "-h", "/www");
        await w.waitReady("web", 30_000);
        assert.equal(vmStatus(await w.read("web"))?.restartCount, 0, "tcpSocket liveness held");
        await w.remove("web");
      });

      await t.step(
        "liveness: a failing probe restarts the VM from a fresh clone; --previous",
        async () => {
          await w.create(vmPod(w, "lively", {
            livenessProbe: {
              exec: { command: ["test", "!", "-f", "/tmp/die"] },
              periodSeconds: 1,
              failureThreshold: 2,
              terminationGracePeriodSeconds: 5,
            },
          }));
          await w.waitReady("lively");
          await exec("lively", "touch", "/tmp/die");
          const again = await eventually("lively restarted and Ready", async () => {
            const p = await w.read("lively");
            return vmStatus(p)?.restartCount === 1 && isReady(p) && p;
          }, 180_000);
          const last = vmStatus(again)?.lastState?.terminated;
          assert.equal(last?.message, "killed: failed liveness probe");
          assert.ok(last?.startedAt && last.finishedAt);
          assert.ok(
            new Date(vmStatus(again)!.state!.running!.startedAt!) >= new Date(last!.finishedAt!),
          );
          const killing = (await podEvents(w.admin, "default", "lively")).find((e) =>
            e.reason === "Killing"
          );
          assert.equal(killing?.message, "Container vm failed liveness probe, will be restarted");
          assert.equal((await exec("lively", "test", "-f", "/tmp/die")).code, 1, "a fresh clone");
          const previous = await w.kubectl(["logs", "lively", "--previous"]);
          assert.match(previous.stdout, /guest: sshd started/, previous.stderr);
          await w.remove("lively");
        },
      );

      await t.step("a guest power-off under each restartPolicy", async () => {
        for (const policy of ["Always", "OnFailure", "Never"]) {
          await w.create(vmPod(w, `off-${policy.toLowerCase()}`, {}, { restartPolicy: policy }));
        }
        for (const policy of ["Always", "OnFailure", "Never"]) {
          await w.waitReady(`off-${policy.toLowerCase()}`);
        }
        for (const policy of ["Always", "OnFailure", "Never"]) {
          await exec(`off-${policy.toLowerCase()}`, "poweroff");
        }
        const always = await eventually("Always restarts", async () => {
          const p = await w.read("off-always");
          return vmStatus(p)?.restartCount === 1 && isReady(p) && p;
        }, 120_000);
        assert.equal(vmStatus(always)?.lastState?.terminated?.exitCode, 0);
        for (const name of ["off-onfailure", "off-never"]) {
          const done = await eventually(`${name} Succeeded`, async () => {
            const p = await w.read(name);
            return p.status?.phase === "Succeeded" && p;
          }, 60_000);
          assert.equal(vmStatus(done)?.state?.terminated?.exitCode, 0);
          assert.equal(vmStatus(done)?.restartCount, 0);
          assert.equal(condition(done, "Ready")?.reason, "PodCompleted");
        }
        assert.equal(slotsInUse(), 1, "ended VMs gave their slots back");
        for (const name of ["off-onfailure", "off-never"]) await w.remove(name);
        // A VM that dies under Never fails the pod.
        await w.create(vmPod(w, "crash-never", {}, { restartPolicy: "Never" }));
        const p = await w.waitReady("crash-never");
        const pid =
          JSON.parse(await Deno.readTextFile(`${w.config.cacheDir}/vms/${p.metadata!.uid}/vm.json`))
            .pid;
        Deno.kill(pid, "SIGKILL");
        const failed = await eventually("crash-never Failed", async () => {
          const p = await w.read("crash-never");
          return p.status?.phase === "Failed" && p;
        }, 60_000);
        assert.equal(vmStatus(failed)?.state?.terminated?.exitCode, 137);
        await w.remove("crash-never");
      });

      await t.step(
        "20 power-off/restart cycles: one restart each, back-off doubling, slots kept",
        async () => {
          const gaps: number[] = [];
          for (let i = 1; i <= 20; i++) {
            const before = await w.read("off-always");
            const count = vmStatus(before)!.restartCount;
            await exec("off-always", "poweroff");
            const p = await eventually(`cycle ${i} Ready`, async () => {
              const p = await w.read("off-always");
              return vmStatus(p)?.restartCount === count + 1 && isReady(p) && p;
            }, 120_000);
            const cs = vmStatus(p)!;
            assert.notEqual(cs.state?.waiting?.reason, "StartError");
            gaps.push(
              new Date(cs.state!.running!.startedAt!).getTime() -
                new Date(cs.lastState!.terminated!.finishedAt!).getTime(),
            );
            assert.equal(slotsInUse(), 1, `cycle ${i}: exactly one slot in use`);
            await new Promise((r) => setTimeout(r, 300));
            assert.equal(
              vmStatus(await w.read("off-always"))?.restartCount,
              count + 1,
              `cycle ${i}: no second restart`,
            );
          }
          // The first restarts of this run wait 2 s (the cap: the earlier power-off made it one
          // crash in a row already); none waits less than the back-off, none far more.
          for (const g of gaps) assert.ok(g >= 1_900 && g < 12_000, `gap ${g} ms in ${gaps}`);
          const startErrors = (await podEvents(w.admin, "default", "off-always")).filter((e) =>
            /StartError|start failed/.test(`${e.reason} ${e.message}`)
          );
          assert.deepEqual(startErrors, []);
          await w.remove("off-always");
          assert.equal(slotsInUse(), 0);
          assert.deepEqual(await w.leftoverVms(), []);
        },
      );

      await t.step("crash-loop back-off doubles from its start: 1 s, then 2 s", async () => {
        await w.create(vmPod(w, "backoff"));
        await w.waitReady("backoff");
        const gaps: number[] = [];
        for (let i = 1; i <= 2; i++) {
          await exec("backoff", "poweroff");
          const p = await eventually(`restart ${i}`, async () => {
            const p = await w.read("backoff");
            return vmStatus(p)?.restartCount === i && isReady(p) && p;
          }, 120_000);
          const cs = vmStatus(p)!;
          gaps.push(
            new Date(cs.state!.running!.startedAt!).getTime() -
              new Date(cs.lastState!.terminated!.finishedAt!).getTime(),
          );
        }
        assert.ok(gaps[0] >= 900 && gaps[0] < 1_900 + 4_000, `first gap ${gaps[0]}`);
        assert.ok(gaps[1] >= 1_900, `second gap ${gaps[1]}`);
        const backOff = (await podEvents(w.admin, "default", "backoff")).find((e) =>
          e.reason === "BackOff"
        );
        assert.equal(backOff?.message, "Back-off restarting failed container vm");
        await w.remove("backoff");
      });

      await t.step(
        "preStop runs in the guest before it is shut down; a failing one is reported",
        async () => {
          let hit: { at: number; body: string } | undefined;
          const server = Deno.serve(
            { hostname: "0.0.0.0", port: 0, onListen() {} },
            async (req) => {
              hit = { at: Date.now(), body: new URL(req.url).searchParams.get("from") ?? "" };
              await req.body?.cancel();
              return new Response("ok");
            },
          );
          try {
            const port = server.addr.port;
            const call =
              `wget -q -O- "http://$(ip route | awk '/default/ {print $3}'):${port}/?from=$(hostname)"`;
            await w.create(
              vmPod(w, "stopper", { lifecycle: { preStop: { exec: { command: sh(call) } } } }),
            );
            const p = await w.waitReady("stopper");
            const pid = JSON.parse(
              await Deno.readTextFile(`${w.config.cacheDir}/vms/${p.metadata!.uid}/vm.json`),
            ).pid;
            await w.admin.core.deleteNamespacedPod({ name: "stopper", namespace: "default" });
            let stoppedAt: number | undefined;
            await eventually(
              "stopper's VM gone",
              () => {
                try {
                  Deno.readTextFileSync(`/proc/${pid}/stat`);
                  return false;
                } catch {
                  stoppedAt = Date.now();
                  return true;
                }
              },
              60_000,
              50,
            );
            assert.ok(hit, "the preStop hook called out");
            assert.ok(hit!.at <= stoppedAt!, "before the VM stopped");
            await eventually(
              "stopper gone",
              () => w.read("stopper").then(() => false, () => true),
              60_000,
            );

            await w.create(
              vmPod(w, "bad-stop", { lifecycle: { preStop: { exec: { command: sh("exit 3") } } } }),
            );
            await w.waitReady("bad-stop");
            await w.admin.core.deleteNamespacedPod({ name: "bad-stop", namespace: "default" });
            const ev = await eventually(
              "FailedPreStopHook",
              async () =>
                (await podEvents(w.admin, "default", "bad-stop")).find((e) =>
                  e.reason === "FailedPreStopHook"
                ),
              60_000,
            );
            assert.match(
              ev.message ?? "",
              /preStop hook failed: command \["sh","-c","exit 3"\] exited 3/,
            );
            await eventually(
              "bad-stop gone",
              () => w.read("bad-stop").then(() => false, () => true),
              60_000,
            );
          } finally {
            await server.shutdown();
          }
        },
      );

      await t.step("activeDeadlineSeconds: the pod is stopped and ends Failed", async () => {
        await w.create(vmPod(w, "deadline", {}, { activeDeadlineSeconds: 40 }));
        await w.waitReady("deadline");
        const failed = await eventually("deadline Failed", async () => {
          const p = await w.read("deadline");
          return p.status?.phase === "Failed" && p;
        }, 60_000);
        assert.equal(failed.status?.reason, "DeadlineExceeded");
        assert.equal(
          failed.status?.message,
          "Pod was active on the node longer than the specified deadline",
        );
        assert.ok(vmStatus(failed)?.state?.terminated, JSON.stringify(vmStatus(failed)));
        assert.equal(condition(failed, "Ready")?.reason, "PodCompleted");
        assert.equal(slotsInUse(), 0, "its VM slot is free");
        assert.deepEqual(await w.leftoverVms(), []);
        const ev = (await podEvents(w.admin, "default", "deadline")).find((e) =>
          e.reason === "DeadlineExceeded"
        );
        assert.ok(ev);
        await w.remove("deadline");
      });

      await t.step("a new image for the VM container restarts it with that image", async () => {
        const second = await pushTestGuest(w.guest, w.registry.host, "v2");
        await w.create(vmPod(w, "retag"));
        await w.waitReady("retag");
        await w.admin.core.patchNamespacedPod(
          {
            name: "retag",
            namespace: "default",
            body: { spec: { containers: [{ name: "vm", image: second }] } },
          },
          strategicMerge,
        );
        const p = await eventually("retag restarted on the new image", async () => {
          const p = await w.read("retag");
          const s = vmStatus(p);
          return s?.restartCount === 1 && s.image === second && isReady(p) && p;
        }, 180_000);
        assert.ok(vmStatus(p)?.lastState?.terminated);
        const ev = (await podEvents(w.admin, "default", "retag")).find((e) =>
          e.reason === "Killing" && /definition changed/.test(e.message ?? "")
        );
        assert.ok(ev, "Killing: definition changed");
        await w.remove("retag");
        assert.deepEqual(await w.leftoverVms(), []);
      });
    } finally {
      await w.stop();
    }
  },
});
