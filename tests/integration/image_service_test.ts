// The ImageService as the runtime and the QEMU backend use it, against the real htpasswd
// registry: ensure a Linux guest image with a pod's pull credentials, hand its files to the
// VM backend's LocalVmImage shape, make a pod's writable disk (qcow2 overlay here, since the
// test file system has no reflinks), hold it with a lease across a GC, release it.

import assert from "node:assert/strict";
import { ImageService, vmImageFiles } from "../../src/image/service.ts";
import { parseDockerConfigJson, staticCredentials } from "../../src/image/registry/credentials.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { AuthError } from "../../src/image/registry/errors.ts";
import { CloneUnsupportedError } from "../../src/image/store/clone.ts";
import { createQcow2Overlay } from "../../src/vm/qemu/overlay.ts";
import { pruneImages } from "../../src/image/store/gc.ts";
import { silentLogger } from "../../src/telemetry/log.ts";
import type { LocalVmImage } from "../../src/vm/types.ts";
import {
  FAST_RETRY,
  imageWorld,
  makeSparseDisk,
  MiB,
  randomBytes,
  sha256File,
} from "./image_support.ts";

Deno.test("image service: a Linux guest for the QEMU backend, with pull secrets and a lease", async () => {
  const world = await imageWorld("vzk-image-service-");
  const { authHost, username, password } = world.registry;
  const kernel = `${world.dir}/vmlinuz`;
  const initrd = `${world.dir}/initrd.img`;
  const disk = `${world.dir}/disk.img`;
  await Deno.writeFile(kernel, randomBytes(200_000));
  await Deno.writeFile(initrd, randomBytes(50_000));
  await makeSparseDisk(disk, 16 * MiB, 8);
  // The shape of a kubernetes.io/dockerconfigjson imagePullSecret.
  const secret = JSON.stringify({
    auths: { [authHost]: { auth: btoa(`${username}:${password}`) } },
  });
  const credentials = staticCredentials(parseDockerConfigJson(secret, "secret default/pull"));
  const pusher = new RegistryClient({ retry: FAST_RETRY, credentials });
  const image = `${authHost}/guests/debian:12`;
  await pushImage(pusher, parseReference(image), {
    os: "linux",
    files: { kernel, initrd, disk },
    cmdline: "console=ttyS0 root=/dev/vda rw quiet",
  }, { tmpDir: `${world.dir}/tmp` });
  pusher.close();
  const images = await ImageService.open({
    cacheDir: `${world.dir}/cache`,
    log: silentLogger,
    retry: FAST_RETRY,
  });
  try {
    const denied = await images.ensure(image, "IfNotPresent").catch((e) => e);
    assert.ok(denied instanceof AuthError, String(denied));
    assert.match(denied.message, new RegExp(`registry ${authHost.replace(/\./g, "\\.")}`));

    const local = await images.ensure(image, "IfNotPresent", { credentials });
    assert.equal(local.pulled, true);
    const files: LocalVmImage = vmImageFiles(local);
    assert.equal(files.os, "linux");
    assert.equal(files.cmdline, "console=ttyS0 root=/dev/vda rw quiet");
    assert.equal(await sha256File(files.kernel!), await sha256File(kernel));
    assert.equal(await sha256File(files.initrd!), await sha256File(initrd));
    assert.equal(await sha256File(files.disk), await sha256File(disk));

    const podDir = `${world.dir}/pods/uid-1`;
    await assert.rejects(images.clone(files.disk, `${podDir}/disk.img`), CloneUnsupportedError);
    await createQcow2Overlay(files.disk, `${podDir}/disk.qcow2`);
    await images.acquire("uid-1", local.manifestDigest);
    const gc = await pruneImages(images.store, { unusedForMs: 0 });
    assert.deepEqual(gc.removed, []);
    assert.equal((await images.ensure(image, "Never")).manifestDigest, local.manifestDigest);
    await images.release("uid-1");
    const gc2 = await pruneImages(images.store, { unusedForMs: 0 });
    assert.equal(gc2.removed.length, 1);
  } finally {
    await world.close();
  }
});
