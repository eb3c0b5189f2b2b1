// Copy-on-write clones on real file systems: reflinks on a loop-mounted XFS (reflink=1)
// share extents and leave the base untouched when the clone is written; on a file system
// without reflinks the clone fails with a clear message unless copying is allowed (then the
// copy stays sparse), and the agent's --allow-image-copy is what allows it; a qcow2 overlay
// reads the base and keeps writes to itself.

import assert from "node:assert/strict";
import { cloneFile, CloneUnsupportedError } from "../../src/image/store/clone.ts";
import { createQcow2Overlay } from "../../src/vm/qemu/overlay.ts";
import { allocatedBytes, makeSparseDisk, MiB, sha256File } from "./image_support.ts";
import { makeRunDir, releaseRunDir } from "../harness/run_dir.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { localHost } from "../../src/config/local_host.ts";
import { agentImages } from "../../src/runtime/agent_images.ts";
import { silentLogger } from "../../src/telemetry/log.ts";

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${text}`);
  return text;
}

async function writeAt(path: string, at: number, bytes: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true });
  await f.seek(at, Deno.SeekMode.Start);
  await f.write(bytes);
  f.close();
}

Deno.test("image clone: reflink on XFS, refusal without copy-on-write, qcow2 overlay", async (t) => {
  const dir = await makeRunDir("vzk-image-clone-");
  try {
    await t.step("reflink clone on XFS shares data and isolates writes", async () => {
      assert.equal(Deno.build.os, "linux");
      // Needs xfsprogs (mkfs.xfs); the test world installs it.
      const img = `${dir}/xfs.img`;
      const mnt = `${dir}/xfs`;
      await Deno.mkdir(mnt);
      const f = await Deno.open(img, { write: true, create: true });
      await f.truncate(320 * MiB);
      f.close();
      await sh("mkfs.xfs", ["-q", "-m", "reflink=1", img]);
      await sh("mount", ["-o", "loop", img, mnt]);
      try {
        const base = `${mnt}/base.img`;
        await makeSparseDisk(base, 64 * MiB, 2);
        const before = await sha256File(base);
        const method = await cloneFile(base, `${mnt}/pods/uid-1/disk.img`);
        assert.equal(method, "reflink");
        assert.equal(await sha256File(`${mnt}/pods/uid-1/disk.img`), before);
        const used = (await sh("df", ["-B1", "--output=used", mnt])).trim().split("\n")[1];
        await cloneFile(base, `${mnt}/pods/uid-2/disk.img`);
        const used2 = (await sh("df", ["-B1", "--output=used", mnt])).trim().split("\n")[1];
        assert.ok(
          Number(used2) - Number(used) < 1 * MiB,
          `a clone costs no data blocks (${used} -> ${used2})`,
        );
        await writeAt(`${mnt}/pods/uid-1/disk.img`, 0, new Uint8Array(4096).fill(7));
        assert.equal(await sha256File(base), before, "writing the clone leaves the base alone");
        assert.notEqual(await sha256File(`${mnt}/pods/uid-1/disk.img`), before);
        await assert.rejects(cloneFile(base, `${mnt}/pods/uid-2/disk.img`), /destination exists/);
      } finally {
        await sh("umount", [mnt]);
      }
    });

    await t.step(
      "no reflink (ext4 here): clear refusal, or a sparse copy when allowed",
      async () => {
        const fsType = (await sh("stat", ["-f", "-c", "%T", dir])).trim();
        assert.ok(
          !["xfs", "btrfs"].includes(fsType),
          `this step needs a file system without reflinks, got ${fsType}`,
        );
        const base = `${dir}/base.img`;
        await makeSparseDisk(base, 32 * MiB, 4);
        const err = await cloneFile(base, `${dir}/clone.img`).catch((e) => e);
        assert.ok(err instanceof CloneUnsupportedError, String(err));
        assert.match(err.message, /does not support reflinks.*refusing a full copy/);
        await assert.rejects(Deno.stat(`${dir}/clone.img`), Deno.errors.NotFound);
        assert.equal(await cloneFile(base, `${dir}/copy.img`, { allowCopy: true }), "copy");
        assert.equal(await sha256File(`${dir}/copy.img`), await sha256File(base));
        assert.ok(await allocatedBytes(`${dir}/copy.img`) < 8 * MiB, "the copy stays sparse");
      },
    );

    await t.step("the agent's --allow-image-copy decides, and the refusal names it", async () => {
      const base = `${dir}/agent-base.img`;
      await makeSparseDisk(base, 16 * MiB, 5);
      const images = (args: string[]) => {
        const parsed = parseConfig(
          ["--nodename", "n", "--cache-dir", `${dir}/agent-cache`, ...args],
          { HOME: dir },
          localHost(),
        );
        if (!parsed.ok) throw new Error(parsed.errors.join("; "));
        return agentImages(parsed.config, silentLogger).service();
      };
      const strict = await images([]);
      const err = await strict.clone(base, `${dir}/pod-a/disk.img`).catch((e) => e);
      assert.ok(err instanceof CloneUnsupportedError, String(err));
      assert.match(err.message, /refusing a full copy of the image/);
      assert.match(err.message, /--allow-image-copy \(VZK_ALLOW_IMAGE_COPY\)/);
      await assert.rejects(Deno.stat(`${dir}/pod-a/disk.img`), Deno.errors.NotFound);
      const lenient = await images(["--allow-image-copy"]);
      assert.equal(await lenient.clone(base, `${dir}/pod-b/disk.img`), "copy");
      assert.equal(await sha256File(`${dir}/pod-b/disk.img`), await sha256File(base));
    });

    await t.step("qcow2 overlay reads the base and keeps writes to itself", async () => {
      const base = `${dir}/qbase.img`;
      await makeSparseDisk(base, 16 * MiB, 6);
      const before = await sha256File(base);
      const overlay = `${dir}/pods/q/disk.qcow2`;
      await createQcow2Overlay(base, overlay);
      const info = JSON.parse(await sh("qemu-img", ["info", "--output=json", overlay]));
      assert.equal(info.format, "qcow2");
      assert.equal(info["backing-filename"], base);
      assert.equal(info["backing-filename-format"], "raw");
      assert.equal(info["virtual-size"], 16 * MiB);
      await sh("qemu-img", ["convert", "-O", "raw", overlay, `${dir}/flat.img`]);
      assert.equal(await sha256File(`${dir}/flat.img`), before);
      await assert.rejects(createQcow2Overlay(base, overlay), /already exists/);
    });
  } finally {
    await releaseRunDir(dir);
  }
});
