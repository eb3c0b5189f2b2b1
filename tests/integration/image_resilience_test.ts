// Pulls through a misbehaving loopback proxy in front of the real registry: connections cut
// mid-blob (the pull resumes with Range and ends byte-identical), bytes flipped (digest
// mismatch naming the layer; nothing unverified left in the store), blobs redirected to
// another origin (the registry's Authorization never reaches it), and a bearer-token
// registry (token flow with good credentials; bad ones fail naming the registry).

import assert from "node:assert/strict";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { pullImage } from "../../src/image/pull/pull.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import { staticCredentials } from "../../src/image/registry/credentials.ts";
import { AuthError } from "../../src/image/registry/errors.ts";
import { DigestMismatchError } from "../../src/image/format/digest.ts";
import { startProxy } from "./image_proxy.ts";
import {
  FAST_RETRY,
  HW_MODEL,
  imageWorld,
  listTree,
  MACHINE_ID,
  makeSparseDisk,
  MiB,
  randomBytes,
  sha256File,
} from "./image_support.ts";

Deno.test("image resilience: cut, flipped, redirected and token-protected pulls", async (t) => {
  const world = await imageWorld("vzk-image-resilience-");
  const { host, authHost, username, password } = world.registry;
  const disk = `${world.dir}/disk.img`;
  const aux = `${world.dir}/aux.img`;
  await makeSparseDisk(disk, 32 * MiB, 5);
  // Incompressible, so its blob is big enough to cut several times.
  await Deno.writeFile(aux, randomBytes(600 * 1024));
  const diskDigest = await sha256File(disk);
  const auxDigest = await sha256File(aux);
  const direct = new RegistryClient({ retry: FAST_RETRY });
  const inputs = {
    os: "darwin" as const,
    files: { disk, aux },
    darwin: { hardwareModelData: HW_MODEL, machineIdData: MACHINE_ID },
  };
  await pushImage(direct, parseReference(`${host}/res/vm:1`), inputs, { tmpDir: `${world.dir}/t` });
  await pushImage(direct, parseReference(`${host}/res/vm:chunked`), inputs, {
    tmpDir: `${world.dir}/t`,
    chunked: true,
    chunkSize: 8 * MiB,
  });
  let n = 0;
  const freshStore = () => ImageStore.open(`${world.dir}/cache${n++}`);
  try {
    await t.step("connections cut mid-blob: the pull resumes with Range", async () => {
      const proxy = startProxy({ upstream: host, cutAfter: 150 * 1024 });
      try {
        const client = new RegistryClient({ retry: FAST_RETRY });
        const store = await freshStore();
        const pulled = await pullImage(client, store, parseReference(`${proxy.host}/res/vm:1`));
        assert.equal(await sha256File(pulled.files.disk!), diskDigest);
        assert.equal(await sha256File(pulled.files.aux!), auxDigest);
        assert.ok(proxy.cuts >= 4, `cuts: ${proxy.cuts}`);
        const ranges = proxy.seen.filter((s) => s.range && /^bytes=[1-9]\d*-/.test(s.range));
        assert.ok(ranges.length >= proxy.cuts - 1, `resumed with Range: ${ranges.length}`);
      } finally {
        await proxy.close();
      }
    });

    await t.step("chunked form with cuts: every chunk resumes", async () => {
      const proxy = startProxy({ upstream: host, cutAfter: 100 * 1024 });
      try {
        const client = new RegistryClient({ retry: FAST_RETRY });
        const pulled = await pullImage(
          client,
          await freshStore(),
          parseReference(`${proxy.host}/res/vm:chunked`),
        );
        assert.equal(await sha256File(pulled.files.disk!), diskDigest);
        assert.ok(proxy.cuts > 0);
      } finally {
        await proxy.close();
      }
    });

    // Offset 5 is inside the gzip header's mtime, which decompressors ignore: only the
    // compressed digest can catch it. Offset 300 breaks the deflate data itself.
    for (
      const [tag, flipAt, why] of [["1", 5, "digest mismatch"], ["chunked", 5, "digest mismatch"], [
        "1",
        300,
        "corrupt compressed data|digest mismatch",
      ]] as const
    ) {
      await t.step(`flipped byte ${flipAt} (${tag}): ${why}, nothing unverified kept`, async () => {
        const proxy = startProxy({ upstream: host, flipAt, minBlobBytes: 4096 });
        try {
          const client = new RegistryClient({ retry: FAST_RETRY });
          const store = await freshStore();
          const ref = `${proxy.host}/res/vm:${tag}`;
          const err = await pullImage(client, store, parseReference(ref)).catch((e) => e);
          assert.ok(err instanceof Error);
          assert.match(
            err.message,
            new RegExp(
              `^image ${
                ref.replace(/\./g, "\\.")
              }: (disk|aux)\\.img: layer sha256:[a-f0-9]{64}: .*(${why})`,
            ),
          );
          if (flipAt === 5) assert.ok(err instanceof DigestMismatchError, String(err));
          assert.deepEqual(await listTree(`${store.layout.root}/files`), []);
          assert.deepEqual(await listTree(store.layout.tmpDir), []);
          assert.deepEqual(await listTree(`${store.layout.root}/images`), []);
          assert.equal(await store.lookup(ref), undefined);
        } finally {
          await proxy.close();
        }
      });
    }

    await t.step("redirect to blob storage drops the Authorization header", async () => {
      const proxy = startProxy({ upstream: authHost, redirectBlobs: true, storageUpstream: host });
      try {
        const client = new RegistryClient({
          retry: FAST_RETRY,
          credentials: staticCredentials(new Map([[proxy.host, { username, password }]])),
        });
        const pulled = await pullImage(
          client,
          await freshStore(),
          parseReference(`${proxy.host}/res/vm:1`),
        );
        assert.equal(await sha256File(pulled.files.disk!), diskDigest);
        assert.ok(proxy.storageSeen.length >= 2, "blobs came from the storage origin");
        assert.ok(
          proxy.storageSeen.every((s) => s.authorization === undefined),
          "no credentials leaked",
        );
        assert.ok(
          proxy.seen.some((s) =>
            s.path.includes("/blobs/") && s.authorization?.startsWith("Basic ")
          ),
          "the registry itself got credentials",
        );
      } finally {
        await proxy.close();
      }
    });

    await t.step("bearer token flow: realm, service, scope; bad credentials named", async () => {
      const proxy = startProxy({ upstream: host, bearer: { username, password } });
      try {
        const good = new RegistryClient({
          retry: FAST_RETRY,
          credentials: staticCredentials(new Map([[proxy.host, { username, password }]])),
        });
        const pulled = await pullImage(
          good,
          await freshStore(),
          parseReference(`${proxy.host}/res/vm:1`),
        );
        assert.equal(await sha256File(pulled.files.aux!), auxDigest);
        const tokenCalls = proxy.seen.filter((s) => s.path === "/token");
        assert.equal(tokenCalls.length, 1, "one token, cached for the scope");
        assert.ok(
          proxy.seen.filter((s) => s.path.startsWith("/v2/res")).every((s) =>
            s.authorization === undefined || s.authorization.startsWith("Bearer ")
          ),
        );
        const bad = new RegistryClient({
          retry: FAST_RETRY,
          credentials: staticCredentials(new Map([[proxy.host, { username, password: "nope" }]])),
        });
        const err = await pullImage(
          bad,
          await freshStore(),
          parseReference(`${proxy.host}/res/vm:1`),
        )
          .catch((e) => e);
        assert.ok(err instanceof AuthError, String(err));
        assert.match(
          err.message,
          new RegExp(`registry ${proxy.host.replace(/\./g, "\\.")} rejected the credentials`),
        );
      } finally {
        await proxy.close();
      }
    });
  } finally {
    direct.close();
    await world.close();
  }
});
