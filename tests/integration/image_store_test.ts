// The content store under concurrency and failure, against the real registry: two
// concurrent pulls share one download; a pull process killed mid-download is followed by a
// consistent pull (the chunked form resumes finished chunks); a cached file changed behind
// our back is detected and pulled again; pull policies; GC never removes an image in use.

import assert from "node:assert/strict";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { activePulls, pullImage, pullsStarted } from "../../src/image/pull/pull.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import { pruneImages } from "../../src/image/store/gc.ts";
import {
  defaultPullPolicy,
  ensureImage,
  ImageNeverPullError,
} from "../../src/image/pull/policy.ts";
import { startProxy } from "./image_proxy.ts";
import {
  FAST_RETRY,
  HW_MODEL,
  imageWorld,
  listTree,
  MACHINE_ID,
  makeBusyDisk,
  MiB,
  randomBytes,
  sha256File,
} from "./image_support.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("image store: sharing, kill and resume, changed files, policies, GC", async (t) => {
  const world = await imageWorld("vzk-image-store-");
  const { host } = world.registry;
  const client = new RegistryClient({ retry: FAST_RETRY });
  const disk = `${world.dir}/disk.img`;
  const aux = `${world.dir}/aux.img`;
  await makeBusyDisk(disk, 24 * MiB, 9);
  await Deno.writeFile(aux, randomBytes(100_000));
  const diskDigest = await sha256File(disk);
  const inputs = {
    os: "darwin" as const,
    files: { disk, aux },
    darwin: { hardwareModelData: HW_MODEL, machineIdData: MACHINE_ID },
  };
  const tmpDir = `${world.dir}/push-tmp`;
  const single = await pushImage(client, parseReference(`${host}/st/vm:single`), inputs, {
    tmpDir,
  });
  const chunked = await pushImage(client, parseReference(`${host}/st/vm:chunked`), inputs, {
    tmpDir,
    chunked: true,
    chunkSize: 2 * MiB,
  });
  await pushImage(client, parseReference(`${host}/st/other:1`), {
    ...inputs,
    files: { disk: aux, aux },
  }, { tmpDir });
  try {
    await t.step("two concurrent pulls share one download", async () => {
      const proxy = startProxy({ upstream: host, slowMs: 2 });
      try {
        const store = await ImageStore.open(`${world.dir}/share`);
        const before = pullsStarted();
        const ref = parseReference(`${proxy.host}/st/vm:single`);
        const seen: number[] = [0, 0];
        const [a, b] = await Promise.all([
          pullImage(client, store, ref, { onProgress: () => seen[0]++ }),
          pullImage(client, store, ref, { onProgress: () => seen[1]++ }),
        ]);
        assert.equal(pullsStarted() - before, 1, "one pull for two callers");
        assert.equal(a.manifestDigest, b.manifestDigest);
        assert.ok(seen[0] > 0 && seen[1] > 0, "both callers see progress");
        const blobGets = proxy.seen.filter((s) => s.method === "GET" && s.path.includes("/blobs/"));
        const perBlob = new Map<string, number>();
        for (const s of blobGets) perBlob.set(s.path, (perBlob.get(s.path) ?? 0) + 1);
        assert.ok([...perBlob.values()].every((n) => n === 1), JSON.stringify([...perBlob]));
        // A tag and a digest reference of the same image: two pulls, still one download each.
        const store2 = await ImageStore.open(`${world.dir}/share2`);
        proxy.seen.length = 0;
        await Promise.all([
          pullImage(client, store2, ref),
          pullImage(client, store2, parseReference(`${proxy.host}/st/vm@${single.digest}`)),
        ]);
        const layerGets = proxy.seen.filter((s) =>
          s.method === "GET" &&
          single.manifest.layers.some((l) => s.path.endsWith(l.digest) && l.size > 4096)
        );
        assert.equal(layerGets.length, 2, "disk and aux fetched once each");
      } finally {
        await proxy.close();
      }
    });

    for (const tag of ["single", "chunked"]) {
      await t.step(`killed mid-pull (${tag}), then pulled again: consistent`, async () => {
        const proxy = startProxy({ upstream: host, slowMs: 15, minBlobBytes: 4096 });
        const cache = `${world.dir}/kill-${tag}`;
        const ref = `${proxy.host}/st/vm:${tag}`;
        try {
          const child = new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              MAIN,
              "image",
              "pull",
              ref,
              "--cache-dir",
              cache,
              "--concurrency",
              "2",
            ],
            stdout: "null",
            stderr: "null",
          }).spawn();
          const store = new ImageStore((await ImageStore.open(cache)).layout);
          // Wait until the download is under way: a temp file, or finished chunks.
          const deadline = Date.now() + 30_000;
          for (;;) {
            const tmp = await listTree(store.layout.tmpDir);
            const partial = await listTree(`${store.layout.root}/partial`);
            const state = partial.find((p) => p.endsWith("state.json"));
            const chunksDone = state
              ? JSON.parse(
                await Deno.readTextFile(`${store.layout.root}/partial/${state}`).catch(() => "{}"),
              ).done
                ?.length ?? 0
              : 0;
            if (tag === "single" ? tmp.length > 0 : chunksDone >= 2) break;
            assert.ok(Date.now() < deadline, "download never started");
            await new Promise((r) => setTimeout(r, 20));
          }
          child.kill("SIGKILL");
          await child.status;
          assert.equal(await store.lookup(ref), undefined, "nothing usable after the kill");
          assert.deepEqual(await listTree(`${store.layout.root}/images`), []);

          const reopened = await ImageStore.open(cache); // sweeps the dead process's temp files
          const pulled = await pullImage(client, reopened, parseReference(ref));
          assert.equal(await sha256File(pulled.files.disk!), diskDigest);
          const total = pulled.record.compressedSize;
          if (tag === "chunked") {
            assert.ok(
              pulled.downloadedBytes < total,
              `resumed: ${pulled.downloadedBytes} of ${total}`,
            );
          }
          assert.deepEqual(await listTree(reopened.layout.tmpDir), []);
          assert.deepEqual(await listTree(`${reopened.layout.root}/partial`), []);
        } finally {
          await proxy.close();
        }
      });
    }

    await t.step(
      "a cached file changed since verification is detected and pulled again",
      async () => {
        const store = await ImageStore.open(`${world.dir}/changed`);
        const ref = parseReference(`${host}/st/vm:single`);
        const first = await pullImage(client, store, ref);
        const file = await Deno.open(first.files.aux!, { write: true });
        await file.write(new Uint8Array([1, 2, 3]));
        file.close();
        assert.equal(
          await store.lookup(`${host}/st/vm:single`),
          undefined,
          "stat notices the change",
        );
        const again = await pullImage(client, store, ref);
        assert.deepEqual(again.replaced, ["aux.img"]);
        assert.equal(await sha256File(again.files.aux!), await sha256File(aux));
      },
    );

    await t.step("pull policies: IfNotPresent uses the cache, Never does not pull", async () => {
      const store = await ImageStore.open(`${world.dir}/policy`);
      const image = `${host}/st/vm:single`;
      await assert.rejects(ensureImage(client, store, image, "Never"), ImageNeverPullError);
      const pulled = await ensureImage(client, store, image, "IfNotPresent");
      assert.equal(pulled.pulled, true);
      const cached = await ensureImage(client, store, image, "IfNotPresent");
      assert.equal(cached.pulled, false);
      assert.equal(
        (await ensureImage(client, store, image, "Never")).manifestDigest,
        single.digest,
      );
      const always = await ensureImage(client, store, image, "Always");
      assert.equal(always.pulled, true);
      assert.equal(always.downloadedBytes, 0, "Always re-resolves but downloads nothing new");
      assert.equal(defaultPullPolicy("x/y"), "Always");
      assert.equal(defaultPullPolicy("x/y:2"), "IfNotPresent");
      assert.equal(defaultPullPolicy(`x/y:latest@${single.digest}`), "IfNotPresent");
    });

    await t.step("GC never removes an image in use", async () => {
      const store = await ImageStore.open(`${world.dir}/gc`);
      const inUse = await pullImage(client, store, parseReference(`${host}/st/vm:chunked`));
      const unused = await pullImage(client, store, parseReference(`${host}/st/other:1`));
      await store.acquire("pod-uid-1", inUse.manifestDigest);
      const r = await pruneImages(store, { unusedForMs: 0, minFreeBytes: Number.MAX_SAFE_INTEGER });
      assert.deepEqual(r.removed.map((x) => x.manifestDigest), [unused.manifestDigest]);
      assert.deepEqual(r.keptInUse, [inUse.manifestDigest]);
      const still = await store.lookup(`${host}/st/vm:chunked`);
      assert.equal(still?.manifestDigest, chunked.digest);
      assert.equal(await sha256File(still!.files.disk!), diskDigest);
      assert.equal(await store.lookup(`${host}/st/other:1`), undefined);
      // Shared files survive: aux.img is also the "other" image's disk and stays for inUse.
      assert.equal(await sha256File(still!.files.aux!), await sha256File(aux));
      // An image being pulled right now is kept too.
      const keep = new Set([inUse.manifestDigest]);
      await store.release("pod-uid-1");
      const r2 = await pruneImages(store, { unusedForMs: 0, keep });
      assert.deepEqual(r2.removed, []);
      assert.equal(activePulls().size, 0);
      const r3 = await pruneImages(store, { unusedForMs: 0 });
      assert.deepEqual(r3.removed.map((x) => x.manifestDigest), [chunked.digest]);
      assert.deepEqual(await listTree(`${store.layout.root}/files`), []);
    });
  } finally {
    client.close();
    await world.close();
  }
});
