// Image garbage collection as the agent wires it: the runtime from selectRuntime (real qemu
// backend, real guest, images from the real registry) with --image-gc-unused-for=1s and
// the GC timing shortened through the runtime context. An image no pod uses is removed; the
// image of a running pod stays (its lease) even through GC runs that remove a younger unused
// image; once the pod is deleted, its image goes too. No control plane: the pod is handed to
// the runtime directly, as the pod controller would.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { startRegistry } from "../harness/registry.ts";
import { makeRunDir, releaseRunDir } from "../harness/run_dir.ts";
import { testGuest } from "../harness/guest.ts";
import { pushTestGuest } from "../support/guest_image.ts";
import { eventually } from "../support/world.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { localHost } from "../../src/config/local_host.ts";
import type { Config } from "../../src/config/types.ts";
import type { EventRecorder } from "../../src/kube/events.ts";
import { hostFacts } from "../../src/host/facts.ts";
import { removeBridge } from "../../src/network/linux_bridge.ts";
import { gcSchedule } from "../../src/runtime/agent_images.ts";
import { selectRuntime } from "../../src/runtime/select.ts";
import type { PodRuntime } from "../../src/runtime/types.ts";
import { pullImage } from "../../src/image/pull/pull.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { randomBytes } from "./image_support.ts";

const log = createLogger({ level: (Deno.env.get("TEST_LOG_LEVEL") ?? "error") as "error" });

Deno.test("image gc schedule: --image-gc-unused-for=0 never removes on age", () => {
  const parse = (args: string[]): Config => {
    const r = parseConfig(["--nodename", "n", ...args], { HOME: "/tmp" }, localHost());
    if (!r.ok) throw new Error(r.errors.join("; "));
    return r.config;
  };
  assert.deepEqual(gcSchedule(parse(["--image-gc-unused-for=0"]), 1000), {
    intervalMs: 1000,
    unusedForMs: undefined,
    minFreeRatio: 0.15,
  });
  assert.deepEqual(gcSchedule(parse(["--image-gc-unused-for=1h30m", "--image-gc-min-free=5"]), 7), {
    intervalMs: 7,
    unusedForMs: 5_400_000,
    minFreeRatio: 0.05,
  });
});

Deno.test({
  name: "image gc in the agent: unused images go, a running pod's image stays until deleted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const guest = await testGuest();
    const dir = await makeRunDir("vzk-image-gc-agent-");
    const registry = await startRegistry({ dir: `${dir}/registry` });
    const bridge = `vzkg${Math.floor(Math.random() * 0xffff).toString(16)}`;
    const cacheDir = `${dir}/cache`;
    let runtime: PodRuntime | undefined;
    try {
      const guestImage = await pushTestGuest(guest, registry.host);
      const unusedImage = `${registry.host}/gc/unused:1`;
      const client = new RegistryClient();
      await Deno.writeFile(`${dir}/k`, randomBytes(64 * 1024));
      await Deno.writeFile(`${dir}/d`, randomBytes(256 * 1024));
      await pushImage(client, parseReference(unusedImage), {
        os: "linux",
        files: { kernel: `${dir}/k`, disk: `${dir}/d` },
        cmdline: "console=ttyS0",
      }, { tmpDir: `${dir}/push-tmp` });

      const parsed = parseConfig([
        "--nodename",
        "gc-node",
        "--cache-dir",
        cacheDir,
        "--image-gc-unused-for=1s",
        // Removal on age only: a nearly full disk must not be what removes the unused image.
        "--image-gc-min-free=0",
        "--max-vms=1",
        `--qemu-bridge=${bridge}`,
        `--qemu-subnet=10.253.${Math.floor(Math.random() * 250) + 1}.0/24`,
        "--qemu-nat=false",
        "--ssh-readiness-timeout=120",
      ], {
        HOME: dir,
        VZ_SSH_USER: guest.rootUser,
        VZ_SSH_PRIVATE_KEY_PATH: guest.privateKeyPath,
      }, localHost());
      if (!parsed.ok) throw new Error(parsed.errors.join("; "));
      const config = parsed.config;
      assert.equal(config.imageGc.unusedForSeconds, 1);

      // What the cache holds, read from disk as `image ls` would.
      const store = await ImageStore.open(cacheDir);
      const digestOf = async (ref: string) => (await store.lookup(ref))?.manifestDigest;
      const present = async (digest: string) =>
        (await store.listImages()).some((r) => r.manifestDigest === digest);
      const pullUnused = async () => {
        const r = await pullImage(client, store, parseReference(unusedImage));
        return r.manifestDigest;
      };

      const unusedDigest = await pullUnused();
      assert.ok(await present(unusedDigest));
      const events: { reason: string; message: string }[] = [];
      const recorder: EventRecorder = {
        record: (_ref, _type, reason, message) => events.push({ reason, message }),
        flush: () => Promise.resolve(),
      };
      runtime = await selectRuntime(config, {
        events: recorder,
        host: await hostFacts(),
        log,
        imageGc: { firstRunAfterMs: 100, intervalMs: 300 },
      });
      const rt = runtime;
      assert.equal(rt.status().ready, true, rt.status().message);

      await t.step("an image no pod uses is removed once unused for 1 s", async () => {
        await eventually(
          "unused image removed",
          async () => !(await present(unusedDigest)),
          15_000,
        );
        assert.equal(await digestOf(unusedImage), undefined, "its reference is gone too");
      });

      const pod: k8s.V1Pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "gc-vm", namespace: "default", uid: crypto.randomUUID() },
        spec: {
          nodeName: "gc-node",
          terminationGracePeriodSeconds: 10,
          containers: [{
            name: "vm",
            image: guestImage,
            resources: { requests: { cpu: "1", memory: "256Mi" } },
          }],
        },
      };
      let guestDigest = "";
      await t.step("a running pod's image stays while younger unused images go", async () => {
        assert.deepEqual(rt.admit(pod), []);
        await rt.createPod(pod);
        const status = await eventually("gc-vm running and ready", () => {
          const s = rt.podStatus(pod);
          const ready = s?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
          return s?.phase === "Running" && ready && s;
        }, 180_000);
        guestDigest = /@(sha256:[0-9a-f]{64})$/.exec(
          status.containerStatuses?.[0]?.imageID ?? "",
        )?.[1] ?? "";
        assert.ok(guestDigest, `imageID ${status.containerStatuses?.[0]?.imageID}`);
        assert.equal(await digestOf(guestImage), guestDigest);
        // Pulled after the guest image: when GC removes it, the guest image had been unused
        // (by age) for longer than 1 s too, and only its lease kept it.
        const again = await pullUnused();
        await eventually(
          "the newer unused image removed",
          async () => !(await present(again)),
          15_000,
        );
        assert.ok(await present(guestDigest), "the running pod's image is still cached");
        assert.ok(
          (await store.leases()).some((l) =>
            l.manifestDigest === guestDigest && l.holder === pod.metadata!.uid
          ),
          "held by the pod's lease",
        );
        assert.equal(rt.podStatus(pod)?.phase, "Running");
        const reasons = events.map((e) => e.reason);
        for (const r of ["Pulling", "Pulled", "Started"]) assert.ok(reasons.includes(r), r);
      });

      await t.step("once the pod is deleted, its image is removed too", async () => {
        await rt.deletePod(pod, 10);
        assert.equal(rt.hasPod("default", "gc-vm"), false);
        await eventually("the deleted pod's image removed", async () => {
          return !(await present(guestDigest));
        }, 15_000);
        assert.equal(await digestOf(guestImage), undefined);
        assert.deepEqual(await store.leases(), []);
      });
      client.close();
    } finally {
      await runtime?.close();
      await registry.stop();
      await removeBridge(bridge).catch(() => {});
      await releaseRunDir(dir);
    }
  },
});
