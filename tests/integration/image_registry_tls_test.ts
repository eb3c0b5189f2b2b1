// A registry over TLS on loopback whose certificate a private CA signed: the agent's image
// source, built from the parsed configuration exactly as select.ts builds it, refuses the
// registry without --registry-ca (at once, one error naming the registry and the option,
// nothing cached) and pulls from it with the CA, by flag or VZK_REGISTRY_CA; the CLI's
// `image … --registry-ca` likewise.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { startTlsRegistry } from "../harness/registry.ts";
import { makeRunDir, releaseRunDir } from "../harness/run_dir.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { localHost } from "../../src/config/local_host.ts";
import type { Config } from "../../src/config/types.ts";
import { agentImages } from "../../src/runtime/agent_images.ts";
import { TlsCertificateError } from "../../src/image/registry/errors.ts";
import { pushImage } from "../../src/image/push/push.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import { ImageStore } from "../../src/image/store/store.ts";
import { silentLogger } from "../../src/telemetry/log.ts";
import {
  FAST_RETRY,
  imageCli,
  makeSparseDisk,
  MiB,
  randomBytes,
  sha256File,
} from "./image_support.ts";

Deno.test("registry TLS: a private CA through --registry-ca, for the agent and the CLI", async (t) => {
  const dir = await makeRunDir("vzk-image-tls-");
  const registry = await startTlsRegistry({ dir: `${dir}/registry` });
  const { host, caCert } = registry;
  const kernel = `${dir}/vmlinuz`;
  const disk = `${dir}/disk.img`;
  await Deno.writeFile(kernel, randomBytes(100_000));
  await makeSparseDisk(disk, 8 * MiB, 5);
  const image = `${host}/tls/guest:1`;
  const pusher = new RegistryClient({ caFile: caCert, retry: FAST_RETRY });
  await pushImage(pusher, parseReference(image), {
    os: "linux",
    files: { kernel, disk },
    cmdline: "console=ttyS0",
  }, { tmpDir: `${dir}/push-tmp` });
  pusher.close();

  const config = (cache: string, args: string[], env: Record<string, string> = {}): Config => {
    const parsed = parseConfig(
      ["--nodename", "tls-node", "--cache-dir", `${dir}/${cache}`, ...args],
      { HOME: dir, ...env },
      localHost(),
    );
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    return parsed.config;
  };
  const pod = { metadata: { name: "p", namespace: "default", uid: "uid-tls" } } as k8s.V1Pod;
  const ensure = (c: Config) =>
    agentImages(c, silentLogger).source.ensure(image, {
      pod,
      policy: "IfNotPresent",
      signal: AbortSignal.timeout(60_000),
    });
  try {
    await t.step("without the CA: refused at once, naming the registry and the fix", async () => {
      const started = Date.now();
      const err = await ensure(config("cache-none", [])).catch((e) => e);
      assert.ok(err instanceof TlsCertificateError, String(err));
      assert.ok(
        err.message.includes(`registry ${host}: TLS certificate not accepted`),
        err.message,
      );
      assert.match(err.message, /UnknownIssuer/);
      assert.match(err.message, /--registry-ca FILE \(environment VZK_REGISTRY_CA\)/);
      // Six attempts with backoff would take about 8 s: a certificate problem is not retried.
      assert.ok(Date.now() - started < 3_000, `took ${Date.now() - started} ms`);
      const store = await ImageStore.open(`${dir}/cache-none`);
      assert.deepEqual(await store.listImages(), []);
    });

    await t.step("with --registry-ca: pulled over TLS and verified", async () => {
      const c = config("cache-flag", [`--registry-ca=${caCert}`]);
      assert.equal(c.registryCaPath, caCert);
      const held = await ensure(c);
      try {
        assert.equal(held.pulled, true);
        assert.equal(held.image.os, "linux");
        assert.equal(await sha256File(held.image.disk), await sha256File(disk));
        assert.equal(await sha256File(held.image.kernel!), await sha256File(kernel));
        assert.match(held.imageID, new RegExp(`^${host.replace(/\./g, "\\.")}/tls/guest@sha256:`));
      } finally {
        held.release();
      }
    });

    await t.step("with VZK_REGISTRY_CA: the same", async () => {
      const c = config("cache-env", [], { VZK_REGISTRY_CA: caCert });
      assert.equal(c.registryCaPath, caCert);
      const held = await ensure(c);
      held.release();
      assert.equal(held.pulled, true);
    });

    await t.step("a CA file that is not there is a configuration error", () => {
      const parsed = parseConfig(
        ["--nodename", "tls-node", `--registry-ca=${dir}/nope.pem`],
        { HOME: dir },
        localHost(),
      );
      assert.ok(!parsed.ok);
      assert.match(parsed.errors.join("\n"), /--registry-ca: ".*nope\.pem" does not exist/);
    });

    await t.step("the CLI: one-line reason without the CA, success with it", async () => {
      const env = { VZK_CACHE_DIR: `${dir}/cache-cli` };
      const bad = await imageCli(["inspect", image], env);
      assert.equal(bad.code, 1, bad.stderr);
      const lines = bad.stderr.trim().split("\n");
      assert.equal(lines.length, 1, bad.stderr);
      assert.match(lines[0], /^error: .*registry 127\.0\.0\.1:\d+: TLS certificate not accepted/);
      assert.match(lines[0], /--registry-ca/);
      const good = await imageCli(["inspect", image, "--registry-ca", caCert], env);
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /sha256:[0-9a-f]{64}/);
    });
  } finally {
    await registry.stop();
    await releaseRunDir(dir);
  }
});
