// Hybrid pods end to end: the VM (a real QEMU guest) with Docker sidecars and init
// containers beside it, on a real dockerd, real registry pulls and a real control plane.
// The sidecar reaches the VM at the pod IP; kubectl logs/exec/port-forward reach the
// sidecar; init containers run to completion first and fail per restartPolicy; a crashing
// sidecar crash-loops with its previous log kept; an agent restart adopts the containers;
// deletion leaves no container behind (fifty create/delete cycles: pod_churn_test.ts).

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { eventually, podEvents, testPod } from "../support/world.ts";
import { startVmWorld, type VmWorld } from "../support/vm_world.ts";
import { LABEL_NODE } from "../../src/containers/names.ts";

const NODE = "hybrid-node";

function pod(w: VmWorld, name: string, extra: {
  containers?: k8s.V1Container[];
  init?: k8s.V1Container[];
  restartPolicy?: string;
}): k8s.V1Pod {
  const p = testPod(name, NODE, {
    grace: 5,
    containers: [
      { name: "vm", image: w.image, resources: { requests: { cpu: "1", memory: "256Mi" } } },
      ...(extra.containers ?? []),
    ],
  });
  p.spec!.initContainers = extra.init;
  p.spec!.restartPolicy = extra.restartPolicy;
  return p;
}

const status = (p: k8s.V1Pod, name: string) =>
  [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find((s) =>
    s.name === name
  );

/** IDs of the containers this node's agent has in Docker. */
async function nodeContainers(w: VmWorld): Promise<string[]> {
  const out = await w.docker!.docker(["ps", "-aq", "--filter", `label=${LABEL_NODE}=${NODE}`]);
  return out.stdout.split(/\s+/).filter(Boolean);
}

Deno.test({
  name: "hybrid pods: Docker sidecars and init containers beside the VM",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const w = await startVmWorld({ node: NODE, docker: true });
    try {
      const busybox = w.busybox!;
      const sidecar: k8s.V1Container = {
        name: "side",
        image: busybox,
        env: [
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
          { name: "GREETING", value: "hi from $(POD_IP)" },
        ],
        command: ["sh", "-c"],
        args: [
          'echo "side up: $GREETING"; ' +
          'until nc -w 3 "$POD_IP" 22 </dev/null >/tmp/banner 2>/dev/null && test -s /tmp/banner; ' +
          "do sleep 1; done; " +
          'echo "banner: $(head -c 20 /tmp/banner)"; exec httpd -f -p 8080 -h /www',
        ],
        ports: [{ containerPort: 8080, name: "http" }],
        resources: { limits: { cpu: "500m", memory: "64Mi" } },
      };

      await t.step("a sidecar beside the VM reaches the guest's SSH at the pod IP", async () => {
        await w.create(pod(w, "hybrid", { containers: [sidecar] }));
        const ready = await w.waitReady("hybrid");
        const side = status(ready, "side")!;
        assert.match(side.containerID ?? "", /^docker:\/\/[0-9a-f]{64}$/);
        assert.equal(side.ready, true);
        assert.ok(side.state?.running?.startedAt);
        assert.match(side.imageID, /@sha256:[0-9a-f]{64}$/);
        const logs = await eventually("the banner in the sidecar's log", async () => {
          const out = (await w.kubectl(["logs", "hybrid", "-c", "side"])).stdout;
          return /banner: SSH-2\.0-dropbear/.test(out) && out;
        }, 60_000);
        assert.match(
          logs,
          new RegExp(`side up: hi from ${ready.status!.podIP!.replaceAll(".", "\\.")}`),
        );
        const reasons = (await podEvents(w.admin, "default", "hybrid")).map((e) =>
          `${e.involvedObject.fieldPath} ${e.reason}`
        );
        for (const r of ["Pulling", "Pulled", "Created", "Started"]) {
          assert.ok(reasons.includes(`spec.containers{side} ${r}`), `side ${r} in ${reasons}`);
        }
        // Limits became Docker limits.
        const id = side.containerID!.slice("docker://".length);
        const inspect = JSON.parse((await w.docker!.docker(["inspect", id])).stdout)[0];
        assert.equal(inspect.HostConfig.NanoCpus, 500_000_000);
        assert.equal(inspect.HostConfig.Memory, 64 * 2 ** 20);
        assert.equal(inspect.Name, "/macos-vz_default_hybrid_side");
      });

      await t.step("kubectl exec, logs, port-forward and stats reach the sidecar", async () => {
        const p = await w.read("hybrid");
        const host = await w.kubectl(["exec", "hybrid", "-c", "side", "--", "hostname"]);
        assert.equal(host.stdout, "hybrid\n", host.stderr);
        const env = await w.kubectl([
          "exec",
          "hybrid",
          "-c",
          "side",
          "--",
          "sh",
          "-c",
          "echo $POD_IP",
        ]);
        assert.equal(env.stdout.trim(), p.status!.podIP);
        const piped = await w.kubectl(
          ["exec", "-i", "hybrid", "-c", "side", "--", "cat"],
          "through",
        );
        assert.equal(piped.stdout, "through");
        const code = await w.kubectl([
          "exec",
          "hybrid",
          "-c",
          "side",
          "--",
          "sh",
          "-c",
          "echo e >&2; exit 4",
        ]);
        assert.equal(code.code, 4);
        assert.match(code.stderr, /^e$/m);
        // The VM is still the default container.
        assert.equal((await w.kubectl(["exec", "hybrid", "--", "uname", "-s"])).stdout, "Linux\n");

        const pf = new Deno.Command(w.cp.kubectl, {
          args: ["--kubeconfig", w.cp.adminKubeconfig, "port-forward", "pod/hybrid", ":8080"],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        try {
          const reader = pf.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let seen = "";
          while (!/127\.0\.0\.1:(\d+) -> 8080/.test(seen)) {
            seen += (await reader.read()).value ?? "";
          }
          const port = /127\.0\.0\.1:(\d+) -> 8080/.exec(seen)![1];
          const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
          assert.equal(body, "hello from the sidecar\n");
          reader.releaseLock();
        } finally {
          pf.kill("SIGTERM");
          await pf.status;
          await pf.stdout.cancel().catch(() => {});
        }

        await w.agent().runtime.stats();
        const summary = JSON.parse(
          (await w.kubectl(["get", "--raw", `/api/v1/nodes/${NODE}/proxy/stats/summary`])).stdout,
        );
        const podStats = summary.pods.find((x: { podRef: { name: string } }) =>
          x.podRef.name === "hybrid"
        );
        const side = podStats.containers.find((c: { name: string }) => c.name === "side");
        assert.ok(side?.memory?.workingSetBytes > 0, JSON.stringify(podStats));
        assert.ok(podStats.containers.some((c: { name: string }) => c.name === "vm"));
      });

      await t.step(
        "an agent restart adopts the sidecar: same container, no duplicate",
        async () => {
          const before = status(await w.read("hybrid"), "side")!.containerID;
          await w.restartAgent();
          await w.waitAgentReady("hybrid");
          const pod = await w.read("hybrid");
          const after = { ...pod, status: w.agent().runtime.podStatus(pod) };
          assert.equal(status(after, "side")!.containerID, before);
          assert.equal((await nodeContainers(w)).length, 1);
        },
      );

      await t.step("deletion stops and removes the sidecar with the VM", async () => {
        await w.remove("hybrid");
        assert.deepEqual(await nodeContainers(w), []);
        assert.deepEqual(await w.leftoverVms(), []);
        const pods = [...Deno.readDirSync(`${w.config.cacheDir}/pods`)];
        assert.deepEqual(pods, [], "no pod directory left");
      });

      await t.step("init containers run to completion, in order, before the VM", async () => {
        await w.create(pod(w, "with-init", {
          init: [
            { name: "first", image: busybox, command: ["sh", "-c", "echo first-ran; sleep 1"] },
            { name: "second", image: busybox, command: ["sh", "-c", "echo second-ran"] },
          ],
        }));
        const p = await w.waitReady("with-init");
        const [first, second] = p.status!.initContainerStatuses!;
        for (const s of [first, second]) {
          assert.equal(s.state?.terminated?.exitCode, 0, JSON.stringify(s));
          assert.equal(s.state?.terminated?.reason, "Completed");
        }
        const vmStarted = new Date(status(p, "vm")!.state!.running!.startedAt!).getTime();
        assert.ok(
          new Date(first.state!.terminated!.finishedAt!).getTime() <=
            new Date(second.state!.terminated!.startedAt!).getTime() + 1000,
        );
        assert.ok(new Date(second.state!.terminated!.finishedAt!).getTime() <= vmStarted + 1000);
        assert.equal((await w.kubectl(["logs", "with-init", "-c", "first"])).stdout, "first-ran\n");
        assert.equal(p.status?.conditions?.find((c) => c.type === "Initialized")?.status, "True");
        await w.remove("with-init");
      });

      await t.step(
        "a native sidecar starts before the VM; attach -i reaches a sidecar",
        async () => {
          await w.create(pod(w, "native", {
            init: [{
              name: "helper",
              image: busybox,
              restartPolicy: "Always",
              command: ["sh", "-c", "echo helper-up; exec sleep 3600"],
            }],
            containers: [{
              name: "echo",
              image: busybox,
              stdin: true,
              command: ["sh", "-c", 'while read -r l; do echo "echo read: $l"; done'],
            }],
          }));
          const p = await w.waitReady("native");
          const helper = status(p, "helper")!;
          assert.ok(helper.state?.running, JSON.stringify(helper));
          assert.equal(helper.started, true);
          assert.equal(helper.ready, true);
          assert.ok(
            new Date(helper.state!.running!.startedAt!) <=
              new Date(status(p, "vm")!.state!.running!.startedAt!),
            "the sidecar started first",
          );
          assert.equal(p.status?.conditions?.find((c) => c.type === "Initialized")?.status, "True");
          assert.equal((await w.kubectl(["logs", "native", "-c", "helper"])).stdout, "helper-up\n");
          // attach is the container's main process: what is typed reaches it, its answer comes back.
          const attach = new Deno.Command(w.cp.kubectl, {
            args: ["--kubeconfig", w.cp.adminKubeconfig, "attach", "-i", "native", "-c", "echo"],
            stdin: "piped",
            stdout: "piped",
            stderr: "null",
          }).spawn();
          let seen = "";
          void attach.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
            new WritableStream({ write: (c) => void (seen += c) }),
          ).catch(() => {});
          const input = attach.stdin.getWriter();
          try {
            await eventually(
              "the sidecar answers through attach",
              async () => {
                await input.write(new TextEncoder().encode("hello-side\n"));
                return seen.includes("echo read: hello-side");
              },
              30_000,
              1_000,
            );
          } finally {
            attach.kill("SIGKILL");
            await attach.status;
          }
          await w.remove("native");
          assert.deepEqual(await nodeContainers(w), []);
        },
      );

      await t.step(
        "a sidecar's image from the password-protected registry with pull secrets",
        async () => {
          const privateImage = busybox.replace(w.registry.host, w.registry.authHost);
          await w.admin.core.createNamespacedSecret({
            namespace: "default",
            body: {
              metadata: { name: "docker-pull" },
              type: "kubernetes.io/dockerconfigjson",
              data: {
                ".dockerconfigjson": btoa(JSON.stringify({
                  auths: {
                    [w.registry.authHost]: {
                      auth: btoa(`${w.registry.username}:${w.registry.password}`),
                    },
                  },
                })),
              },
            },
          });
          const withSecret = pod(w, "private-side", {
            containers: [{
              name: "side",
              image: privateImage,
              imagePullPolicy: "Always",
              command: ["sh", "-c", "echo pulled-privately; exec sleep 3600"],
            }],
          });
          withSecret.spec!.imagePullSecrets = [{ name: "docker-pull" }];
          await w.create(withSecret);
          await w.waitReady("private-side");
          assert.equal(
            (await w.kubectl(["logs", "private-side", "-c", "side"])).stdout,
            "pulled-privately\n",
          );
          await w.remove("private-side");
          // Without the secret the registry refuses, and the message names it.
          await w.create(pod(w, "no-secret", {
            containers: [{ name: "side", image: privateImage, imagePullPolicy: "Always" }],
          }));
          const waiting = await eventually("ErrImagePull", async () => {
            const s = status(await w.read("no-secret"), "side")?.state?.waiting;
            return (s?.reason === "ErrImagePull" || s?.reason === "ImagePullBackOff") && s;
          }, 60_000);
          assert.ok(waiting.message?.includes(w.registry.authHost), String(waiting.message));
          await w.remove("no-secret");
        },
      );

      await t.step("a failing init container: Never fails the pod, OnFailure retries", async () => {
        const failing = {
          name: "broken",
          image: busybox,
          command: ["sh", "-c", "echo nope; exit 3"],
        };
        await w.create(pod(w, "init-never", { init: [failing], restartPolicy: "Never" }));
        await w.create(pod(w, "init-retry", { init: [failing], restartPolicy: "OnFailure" }));
        const never = await eventually("init-never Failed", async () => {
          const p = await w.read("init-never");
          return p.status?.phase === "Failed" && p;
        }, 60_000);
        assert.equal(status(never, "broken")?.state?.terminated?.exitCode, 3);
        assert.equal(status(never, "vm")?.state?.running, undefined, "the VM never started");
        const retry = await eventually("init-retry crash-looping", async () => {
          const s = status(await w.read("init-retry"), "broken");
          return (s?.restartCount ?? 0) >= 1 && s?.state?.waiting?.reason === "CrashLoopBackOff" &&
            s;
        }, 60_000);
        assert.equal(retry.lastState?.terminated?.exitCode, 3);
        const p = await w.read("init-retry");
        assert.equal(p.status?.phase, "Pending");
        assert.equal(p.status?.conditions?.find((c) => c.type === "Initialized")?.status, "False");
        await w.remove("init-never");
        await w.remove("init-retry");
      });

      await t.step("a crashing sidecar crash-loops; --previous shows its last run", async () => {
        const crashing: k8s.V1Container = {
          name: "crash",
          image: busybox,
          command: ["sh", "-c", 'echo "run at $(date +%s) $RANDOM"; exit 2'],
        };
        await w.create(pod(w, "crashy", { containers: [crashing] }));
        const s = await eventually("crash in CrashLoopBackOff", async () => {
          const s = status(await w.read("crashy"), "crash");
          return (s?.restartCount ?? 0) >= 1 && s?.state?.waiting?.reason === "CrashLoopBackOff" &&
            s;
        }, 120_000);
        assert.equal(s.lastState?.terminated?.exitCode, 2);
        assert.equal(s.lastState?.terminated?.reason, "Error");
        const previous = await w.kubectl(["logs", "crashy", "-c", "crash", "--previous"]);
        assert.match(previous.stdout, /^run at \d+ \d+\n$/, previous.stderr);
        const current = await w.kubectl(["logs", "crashy", "-c", "crash"]);
        assert.match(current.stdout, /^run at \d+ \d+\n$/);
        assert.notEqual(current.stdout, previous.stdout, "two runs, two logs");
        const backOff = (await podEvents(w.admin, "default", "crashy")).find((e) =>
          e.reason === "BackOff"
        );
        assert.match(backOff?.message ?? "", /Back-off restarting failed container crash/);
        await w.remove("crashy");
      });

      await t.step("a pod deleted while the agent restarts leaves no VM or container", async () => {
        await w.create(pod(w, "restart-gap", { containers: [{ ...sidecar, name: "side" }] }));
        await w.waitReady("restart-gap");
        await w.agent().stop();
        await w.admin.core.deleteNamespacedPod({ name: "restart-gap", namespace: "default" });
        await w.restartAgent();
        await eventually(
          "restart-gap gone",
          () => w.read("restart-gap").then(() => false, () => true),
          60_000,
        );
        assert.deepEqual(await nodeContainers(w), []);
        assert.deepEqual(await w.leftoverVms(), []);
      });
    } finally {
      await w.stop();
    }
  },
});
