// The image store's share of issue 13, against the real registry: a registry that stops
// answering mid-blob is noticed (a stall event) and the pull resumes with Range; a manifest
// whose disk layer does not hold what its annotation claims is refused even when the store
// has content with the claimed digest (and `image ls` never calls such an image ok); and
// `image prune` clears half-finished downloads, but never one still running.

import assert from "node:assert/strict";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { memorySource, uploadBlob } from "../../src/image/registry/upload.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { pullImage, type PullProgress } from "../../src/image/pull/pull.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import { listImages } from "../../src/image/cli/cli_views.ts";
import { DigestMismatchError, sha256Of } from "../../src/image/format/digest.ts";
import { encodeJson } from "../../src/image/format/manifest.ts";
import * as MT from "../../src/image/format/media_types.ts";
import { startProxy } from "./image_proxy.ts";
import {
  FAST_RETRY,
  HW_MODEL,
  imageCli,
  imageWorld,
  listTree,
  MACHINE_ID,
  makeBusyDisk,
  MiB,
  randomBytes,
  sha256File,
} from "./image_support.ts";
import zlib from "node:zlib";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** `p`, or a failure after `ms` (today's code hangs on a silent registry). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function waitFor(what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ok())) {
    assert.ok(Date.now() < deadline, `${what}: timed out`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("image hardening: stalled registry, lying manifest, prune of leftovers", async (t) => {
  const world = await imageWorld("vzk-image-hard-");
  const { host } = world.registry;
  const client = new RegistryClient({ retry: FAST_RETRY });
  const disk = `${world.dir}/disk.img`;
  const aux = `${world.dir}/aux.img`;
  await makeBusyDisk(disk, 16 * MiB, 5);
  await Deno.writeFile(aux, randomBytes(50_000));
  const diskDigest = await sha256File(disk);
  const inputs = {
    os: "darwin" as const,
    files: { disk, aux },
    darwin: { hardwareModelData: HW_MODEL, machineIdData: MACHINE_ID },
  };
  const tmpDir = `${world.dir}/push-tmp`;
  const single = await pushImage(client, parseReference(`${host}/hd/vm:single`), inputs, {
    tmpDir,
  });
  await pushImage(client, parseReference(`${host}/hd/vm:chunked`), inputs, {
    tmpDir,
    chunked: true,
    chunkSize: 2 * MiB,
  });
  try {
    await t.step("a registry silent mid-blob: stall event, then resumed with Range", async () => {
      const proxy = startProxy({
        upstream: host,
        stallAfter: 300_000,
        stallTimes: 1,
        minBlobBytes: 200_000,
      });
      const stalling = new RegistryClient({ retry: { ...FAST_RETRY, readTimeoutMs: 400 } });
      const events: PullProgress[] = [];
      try {
        const store = await ImageStore.open(`${world.dir}/stall-cache`);
        const pulled = await within(
          20_000,
          pullImage(stalling, store, parseReference(`${proxy.host}/hd/vm:single`), {
            onProgress: (p) => events.push(p),
          }),
          "pull through a silent registry",
        );
        assert.equal(await sha256File(pulled.files.disk!), diskDigest);
        assert.equal(proxy.stalls, 1);
        const stall = events.find((e) => e.state === "stalled");
        assert.ok(stall, "a stall event reached the caller");
        assert.match(stall.message!, /stalled: no data for 0 s at byte \d+; resuming/);
        assert.ok(proxy.seen.some((s) => s.range?.startsWith("bytes=")), "resumed with Range");
      } finally {
        stalling.close();
        await proxy.close();
      }
    });

    await t.step("a disk layer that is not what its annotation says is never used", async () => {
      const store = await ImageStore.open(`${world.dir}/lie-cache`);
      await pullImage(client, store, parseReference(`${host}/hd/vm:single`));
      // Same manifest, but the disk layer is another blob claiming the cached disk's digest.
      const other = new Uint8Array(zlib.gzipSync(randomBytes(100_000)));
      const otherDigest = sha256Of(other);
      const ref = parseReference(`${host}/hd/vm:lying`);
      await uploadBlob(client, ref, otherDigest, memorySource(other));
      const manifest = structuredClone(single.manifest);
      const layer = manifest.layers.find((l) => l.mediaType === MT.AGODA_DISK)!;
      layer.digest = otherDigest;
      layer.size = other.length;
      const lyingDigest = await client.putManifest(ref, encodeJson(manifest), MT.OCI_MANIFEST);
      await assert.rejects(
        pullImage(client, store, ref),
        (err: Error) => err instanceof DigestMismatchError && /uncompressed/.test(err.message),
      );
      assert.equal(await store.lookup(`${host}/hd/vm:lying`), undefined);
      // A record left by an older keying (files named by uncompressed digest) is not ok either.
      const good = (await store.listImages())[0];
      await store.writeImage({
        ...good,
        manifestDigest: lyingDigest,
        references: [ref.repository],
      });
      const rows = JSON.parse(await listImages(store, true)) as {
        manifestDigest: string;
        valid: boolean;
      }[];
      assert.equal(rows.find((r) => r.manifestDigest === lyingDigest)?.valid, false);
      assert.equal(rows.find((r) => r.manifestDigest === good.manifestDigest)?.valid, true);
    });

    await t.step("image prune clears a killed pull's partial download", async () => {
      const proxy = startProxy({ upstream: host, slowMs: 15, minBlobBytes: 4096 });
      const cache = `${world.dir}/prune-cache`;
      try {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            MAIN,
            "image",
            "pull",
            `${proxy.host}/hd/vm:chunked`,
            "--cache-dir",
            cache,
          ],
          stdout: "null",
          stderr: "null",
        }).spawn();
        const store = await ImageStore.open(cache);
        const partial = `${store.layout.root}/partial`;
        await waitFor(
          "a chunk done",
          async () => (await listTree(partial)).some((p) => p.endsWith("state.json")),
        );
        child.kill("SIGKILL");
        await child.status;
        assert.notDeepEqual(await listTree(partial), [], "the killed pull left a partial file");
        const r = await imageCli(["prune", "--cache-dir", cache]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await listTree(partial), [], r.stdout);
        assert.deepEqual(await listTree(`${store.layout.root}/pulling`), []);
      } finally {
        await proxy.close();
      }
    });

    await t.step("image prune from another process leaves a running pull alone", async () => {
      const proxy = startProxy({ upstream: host, slowMs: 15, minBlobBytes: 4096 });
      const cache = `${world.dir}/running-cache`;
      try {
        const store = await ImageStore.open(cache);
        const pulling = pullImage(client, store, parseReference(`${proxy.host}/hd/vm:chunked`));
        const partial = `${store.layout.root}/partial`;
        await waitFor("a chunk done", async () => {
          const state = (await listTree(partial)).find((p) => p.endsWith("state.json"));
          if (!state) return false;
          const text = await Deno.readTextFile(`${partial}/${state}`).catch(() => "{}");
          return (JSON.parse(text).done?.length ?? 0) >= 1;
        });
        const r = await imageCli(["prune", "--cache-dir", cache]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /0 leftover\(s\) cleared/);
        const pulled = await pulling;
        assert.equal(await sha256File(pulled.files.disk!), diskDigest);
      } finally {
        await proxy.close();
      }
    });
  } finally {
    client.close();
    await world.close();
  }
});
