// `macos-vz-kubelet image …` as a user runs it (a child process per command) against the
// real registry: push from files, pull -o DIR (byte-identical files), pull into the cache,
// inspect, ls, rm, prune; credentials from a Docker config for the htpasswd registry; bad
// credentials and bad usage give one line and a non-zero status; plain progress lines off
// a terminal.

import assert from "node:assert/strict";
import {
  HW_MODEL,
  imageCli,
  imageWorld,
  MACHINE_ID,
  makeSparseDisk,
  MiB,
  sha256File,
} from "./image_support.ts";

Deno.test("image cli: push, pull -o, pull, inspect, ls, rm, prune, credentials", async (t) => {
  const world = await imageWorld("vzk-image-cli-");
  const { host, authHost, username, password } = world.registry;
  const cache = `${world.dir}/cache`;
  const disk = `${world.dir}/disk.img`;
  const aux = `${world.dir}/aux.img`;
  await makeSparseDisk(disk, 16 * MiB, 3);
  await Deno.writeFile(aux, new TextEncoder().encode("aux ".repeat(4096)));
  const hwFile = `${world.dir}/hw.bin`;
  await Deno.writeFile(hwFile, Uint8Array.from(atob(HW_MODEL), (c) => c.charCodeAt(0)));
  const dockerConfig = `${world.dir}/docker`;
  await Deno.mkdir(dockerConfig);
  await Deno.writeTextFile(
    `${dockerConfig}/config.json`,
    JSON.stringify({ auths: { [authHost]: { auth: btoa(`${username}:${password}`) } } }),
  );
  const env = { VZK_CACHE_DIR: cache, DOCKER_CONFIG: dockerConfig };
  try {
    await t.step("push with @FILE and base64 arguments prints the pinned reference", async () => {
      const r = await imageCli([
        "push",
        `${host}/cli/macos:1`,
        "--disk",
        disk,
        "--aux",
        aux,
        "--hardware-model",
        `@${hwFile}`,
        "--machine-id",
        MACHINE_ID,
      ], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${host}/cli/macos:1@sha256:[a-f0-9]{64}\\n$`));
      assert.match(r.stderr, /push disk\.img .*100%/, "plain progress lines off a terminal");
      assert.ok(!r.stderr.includes("\x1b["), "no terminal escapes in a pipe");
    });

    await t.step("pull -o DIR writes disk.img, aux.img and config.json", async () => {
      const out = `${world.dir}/out`;
      const r = await imageCli(["pull", `${host}/cli/macos:1`, "-o", out], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256File(`${out}/disk.img`), await sha256File(disk));
      assert.equal(await sha256File(`${out}/aux.img`), await sha256File(aux));
      const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
      assert.equal(config.hardwareModelData, HW_MODEL);
      assert.equal(config.machineIdData, MACHINE_ID);
      const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
      assert.deepEqual(names, ["aux.img", "config.json", "disk.img"]);
    });

    await t.step(
      "pull into the cache through the htpasswd registry with docker config",
      async () => {
        const r = await imageCli(["pull", `${authHost}/cli/macos:1`], env);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /downloaded/);
        const ls = await imageCli(["ls"], env);
        assert.equal(ls.code, 0, ls.stderr);
        assert.match(
          ls.stdout,
          new RegExp(`${authHost}/cli/macos:1\\s+sha256:\\S+\\s+darwin\\s+agoda\\s+16\\.0 MiB`),
        );
      },
    );

    await t.step(
      "bad credentials: status 1, one line naming the registry, no password",
      async () => {
        const bad = `${world.dir}/bad`;
        await Deno.mkdir(bad);
        await Deno.writeTextFile(
          `${bad}/config.json`,
          JSON.stringify({ auths: { [authHost]: { auth: btoa(`${username}:not-the-password`) } } }),
        );
        const r = await imageCli(["pull", `${authHost}/cli/macos:1`], {
          ...env,
          DOCKER_CONFIG: bad,
        });
        assert.equal(r.code, 1);
        const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
        assert.equal(lines.length, 1, r.stderr);
        assert.match(
          lines[0],
          new RegExp(`registry ${authHost} rejected the credentials of user "${username}"`),
        );
        assert.ok(!r.stderr.includes("not-the-password"));
      },
    );

    await t.step("inspect shows the form and files", async () => {
      const r = await imageCli(["inspect", `${host}/cli/macos:1`], env);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout);
      assert.equal(info.form, "agoda");
      assert.deepEqual(info.files.map((f: { name: string }) => f.name).sort(), [
        "aux.img",
        "disk.img",
      ]);
    });

    await t.step("rm and prune", async () => {
      const rm = await imageCli(["rm", `${authHost}/cli/macos:1`], env);
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stdout, /removed/);
      const ls = await imageCli(["ls", "--json"], env);
      assert.deepEqual(JSON.parse(ls.stdout), []);
      const prune = await imageCli(["prune"], env);
      assert.equal(prune.code, 0, prune.stderr);
      const missing = await imageCli(["rm", `${authHost}/cli/macos:1`], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not in the local store/);
    });

    await t.step("push --from a Tart and a macosvm VM directory", async () => {
      const tartDir = `${world.dir}/tart-vm`;
      await Deno.mkdir(tartDir);
      await Deno.copyFile(disk, `${tartDir}/disk.img`);
      await Deno.copyFile(aux, `${tartDir}/nvram.bin`);
      await Deno.writeTextFile(
        `${tartDir}/config.json`,
        JSON.stringify({
          version: 1,
          os: "darwin",
          arch: "arm64",
          hardwareModel: HW_MODEL,
          ecid: MACHINE_ID,
          cpuCount: 4,
        }),
      );
      const vmDir = `${world.dir}/macosvm`;
      await Deno.mkdir(vmDir);
      await Deno.copyFile(disk, `${vmDir}/root.img`);
      await Deno.copyFile(aux, `${vmDir}/aux.img`);
      await Deno.writeTextFile(
        `${vmDir}/vm.json`,
        JSON.stringify({
          hardwareModel: HW_MODEL,
          machineId: MACHINE_ID,
          storage: [{ type: "disk", file: "root.img", readOnly: false }, {
            type: "aux",
            file: "aux.img",
          }],
          cpus: 2,
        }),
      );
      for (const [tag, from] of [["tart", tartDir], ["macosvm", `${vmDir}/vm.json`]]) {
        const p = await imageCli(["push", `${host}/cli/from:${tag}`, "--from", from], env);
        assert.equal(p.code, 0, p.stderr);
        const out = `${world.dir}/from-${tag}`;
        const r = await imageCli(["pull", `${host}/cli/from:${tag}`, "-o", out], env);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await sha256File(`${out}/disk.img`), await sha256File(disk));
        assert.equal(await sha256File(`${out}/aux.img`), await sha256File(aux));
        const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
        assert.equal(config.hardwareModelData, HW_MODEL);
        assert.equal(config.machineIdData, MACHINE_ID);
      }
      const clash = await imageCli(
        ["push", `${host}/cli/from:x`, "--from", tartDir, "--disk", disk],
        env,
      );
      assert.equal(clash.code, 2);
      const notVm = await imageCli(
        ["push", `${host}/cli/from:x`, "--from", world.dir + "/out"],
        env,
      );
      assert.equal(notVm.code, 1);
      assert.match(notVm.stderr, /neither a Tart VM .* nor a macosvm VM/);
    });

    await t.step("bad usage exits 2", async () => {
      const r = await imageCli(["push", `${host}/cli/x:1`, "--disk", disk], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--aux is required/);
      const u = await imageCli(["frobnicate"], env);
      assert.equal(u.code, 2);
    });
  } finally {
    await world.close();
  }
});
