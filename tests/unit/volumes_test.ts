// Pod volumes on the host (src/volumes/): the plan checked at admission, the kubelet-style
// atomic writer (..data swapped in one rename), the files of configMap, secret, downwardAPI
// and projected volumes with items, modes and optional references, hostPath type checks,
// emptyDir, Docker bind mounts, and when service-account tokens are requested again.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { planVolumes, validSubPath } from "../../src/volumes/plan.ts";
import { textFile, writeAtomically } from "../../src/volumes/atomic_writer.ts";
import { VolumeError, volumeFiles } from "../../src/volumes/payload.ts";
import { setUpHostPath } from "../../src/volumes/host_path.ts";
import { PodTokens, tokenNeedsRefresh } from "../../src/volumes/tokens.ts";
import { formatMap } from "../../src/volumes/downward.ts";
import { PodVolumes } from "../../src/volumes/pod_volumes.ts";
import { overLimitMessage } from "../../src/volumes/usage.ts";
import type { ObjectReader, TokenRequestSpec } from "../../src/kube/objects.ts";
import { silentLogger } from "../../src/telemetry/log.ts";

const dec = new TextDecoder();

Deno.test("volume plan: unsupported kinds and bad mounts fail with the field named", () => {
  const pod: k8s.V1Pod = {
    spec: {
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: "c" } },
        { name: "cfg", configMap: { name: "app" } },
        { name: "cfg", emptyDir: {} },
        { name: "bundle", projected: { sources: [{ clusterTrustBundle: { path: "ca.pem" } }] } },
        { name: "empty" },
      ],
      containers: [{
        name: "vm",
        volumeMounts: [
          { name: "nope", mountPath: "/x" },
          { name: "cfg", mountPath: "relative" },
          { name: "cfg", mountPath: "/etc/cfg", subPath: "../escape" },
          { name: "cfg", mountPath: "/etc/a", subPathExpr: "$(POD)" },
        ],
      }],
    },
  };
  const { problems } = planVolumes(pod);
  assert.deepEqual(problems, [
    "spec.volumes[0] (data): volumes of type persistentVolumeClaim are not supported on this " +
    "node; it provides emptyDir, hostPath, configMap, secret, downwardAPI, projected",
    "spec.volumes[2] (cfg): the name is used twice; give each volume its own",
    "spec.volumes[3] (bundle).projected.sources[0]: clusterTrustBundle sources are not supported on this node",
    "spec.volumes[4] (empty): no volume source given",
    'spec.containers[0] (vm).volumeMounts[0]: no volume named "nope" in spec.volumes',
    'spec.containers[0] (vm).volumeMounts[1].mountPath: "relative" is not an absolute path',
    'spec.containers[0] (vm).volumeMounts[2].subPath: "../escape" must be relative and must not contain ".."',
    "spec.containers[0] (vm).volumeMounts[3].subPathExpr: not supported on this node; use subPath",
  ]);
  assert.equal(validSubPath("a/b"), true);
  assert.equal(validSubPath("/a"), false);
  const ok = planVolumes({
    spec: {
      volumes: [{ name: "scratch", emptyDir: {} }],
      containers: [{
        name: "vm",
        volumeMounts: [{ name: "scratch", mountPath: "/s", readOnly: true }],
      }],
      initContainers: [{
        name: "init",
        volumeMounts: [{ name: "scratch", mountPath: "/w", subPath: "out" }],
      }],
    },
  });
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.plan.mounts.get("vm"), [{
    volume: "scratch",
    mountPath: "/s",
    subPath: undefined,
    readOnly: true,
  }]);
  assert.deepEqual(ok.plan.mounts.get("init"), [{
    volume: "scratch",
    mountPath: "/w",
    subPath: "out",
    readOnly: false,
  }]);
});

Deno.test("atomic writer: ..data swapped in one rename, unchanged payloads untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-atomic-" });
  try {
    assert.equal(
      await writeAtomically(dir, [textFile("a", "1", 0o644), textFile("sub/b", "2", 0o600)]),
      true,
    );
    const first = await Deno.readLink(`${dir}/..data`);
    assert.match(first, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/);
    assert.equal(await Deno.readLink(`${dir}/a`), "..data/a");
    assert.equal(await Deno.readLink(`${dir}/sub`), "..data/sub");
    assert.equal(await Deno.readTextFile(`${dir}/sub/b`), "2");
    assert.equal((await Deno.stat(`${dir}/sub/b`)).mode! & 0o777, 0o600);
    assert.equal(
      await writeAtomically(dir, [textFile("a", "1", 0o644), textFile("sub/b", "2", 0o600)]),
      false,
    );
    assert.equal(await Deno.readLink(`${dir}/..data`), first, "nothing rewritten");
    assert.equal(await writeAtomically(dir, [textFile("a", "changed", 0o644)]), true);
    assert.equal(await Deno.readTextFile(`${dir}/a`), "changed");
    await assert.rejects(Deno.lstat(`${dir}/sub`), "a name no longer in the payload goes");
    await assert.rejects(Deno.stat(`${dir}/${first}`), "the old directory goes");
    await assert.rejects(
      writeAtomically(dir, [textFile("../x", "", 0o644)]),
      /stay inside the volume/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const b64 = (s: string) => btoa(s);
const tokenCalls: TokenRequestSpec[] = [];
const reader: ObjectReader = {
  configMap: (_ns, name) =>
    Promise.resolve(
      name === "app"
        ? {
          data: { "app.conf": "mode=fast\n", other: "x" },
          binaryData: { blob: b64("\u0001\u0002") },
        }
        : undefined,
    ),
  secret: (_ns, name) =>
    Promise.resolve(name === "db" ? { data: { password: b64("s3cret") } } : undefined),
  serviceAccount: () => Promise.resolve(undefined),
  token(_ns, _sa, spec) {
    tokenCalls.push(spec);
    return Promise.resolve({
      token: `token-${tokenCalls.length}`,
      expiresAt: new Date(Date.now() + spec.expirationSeconds * 1000),
    });
  },
};

const pod: k8s.V1Pod = {
  metadata: {
    name: "p",
    namespace: "ci",
    uid: "u-1",
    labels: { b: "2", a: "1" },
    annotations: { note: 'say "hi"' },
  },
  spec: {
    containers: [{ name: "vm", resources: { limits: { memory: "1Gi" } } }],
    serviceAccountName: "builder",
  },
};
const downward = { pod, nodeName: "mac-1", nodeCpus: 4, nodeMemoryBytes: 2 ** 34 };

Deno.test("volume files: config maps, secrets, items, modes and optional references", async () => {
  const files = (v: k8s.V1Volume) => volumeFiles(v, { reader, downward });
  const all = await files({ name: "cfg", configMap: { name: "app" } });
  assert.deepEqual(all.map((f) => [f.path, f.mode]), [["app.conf", 0o644], ["other", 0o644], [
    "blob",
    0o644,
  ]]);
  assert.deepEqual([...all[2].data], [1, 2]);
  const items = await files({
    name: "cfg",
    configMap: {
      name: "app",
      defaultMode: 0o440,
      items: [{ key: "app.conf", path: "conf/app.conf" }, { key: "other", path: "o", mode: 0o600 }],
    },
  });
  assert.deepEqual(items.map((f) => [f.path, f.mode]), [["conf/app.conf", 0o440], ["o", 0o600]]);
  const secret = await files({ name: "s", secret: { secretName: "db" } });
  assert.equal(dec.decode(secret[0].data), "s3cret");
  assert.deepEqual(await files({ name: "o", secret: { secretName: "gone", optional: true } }), []);
  const missing = await files({ name: "m", configMap: { name: "gone" } }).catch((e) => e);
  assert.ok(missing instanceof VolumeError);
  assert.equal(
    missing.message,
    'MountVolume.SetUp failed for volume "m": configMap "ci/gone" not found',
  );
  const key = await files({
    name: "k",
    secret: { secretName: "db", items: [{ key: "token", path: "t" }] },
  }).catch((e) => e);
  assert.match(key.message, /secret "ci\/db" has no key "token"/);
  assert.ok(!key.message.includes("s3cret"));
});

Deno.test("volume files: downward API and the default kube-api-access volume", async () => {
  tokenCalls.length = 0;
  const tokens = new PodTokens(pod, reader);
  const projected = await volumeFiles({
    name: "kube-api-access-x",
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
        { configMap: { name: "app", items: [{ key: "app.conf", path: "ca.crt" }] } },
        {
          downwardAPI: {
            items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
          },
        },
      ],
    },
  }, { reader, tokens, downward });
  assert.deepEqual(projected.map((f) => [f.path, dec.decode(f.data)]), [
    ["token", "token-1"],
    ["ca.crt", "mode=fast\n"],
    ["namespace", "ci"],
  ]);
  assert.deepEqual(tokenCalls, [{
    audiences: undefined,
    expirationSeconds: 3607,
    pod: { name: "p", uid: "u-1" },
  }]);
  const down = await volumeFiles({
    name: "info",
    downwardAPI: {
      items: [
        { path: "labels", fieldRef: { fieldPath: "metadata.labels" } },
        { path: "annotations", fieldRef: { fieldPath: "metadata.annotations" } },
        {
          path: "mem",
          resourceFieldRef: { containerName: "vm", resource: "limits.memory", divisor: "1Mi" },
        },
      ],
    },
  }, { reader, downward });
  assert.deepEqual(down.map((f) => dec.decode(f.data)), [
    'a="1"\nb="2"\n',
    'note="say \\"hi\\""\n',
    "1024",
  ]);
  assert.equal(formatMap(undefined), "");
});

Deno.test("tokens: requested again at 80 % of their lifetime or after a day", async () => {
  assert.equal(tokenNeedsRefresh(0, 1000, 799), false);
  assert.equal(tokenNeedsRefresh(0, 1000, 800), true);
  assert.equal(tokenNeedsRefresh(0, 10 * 86_400_000, 86_400_000), true, "a day old");
  assert.equal(tokenNeedsRefresh(0, 1000, 9, 0.01), false, "a test's shorter share");
  assert.equal(tokenNeedsRefresh(0, 1000, 10, 0.01), true);
  let now = 1_000_000;
  tokenCalls.length = 0;
  const clocked: ObjectReader = {
    ...reader,
    token(_ns, _sa, spec) {
      tokenCalls.push(spec);
      const token = `token-${tokenCalls.length}`;
      return Promise.resolve({ token, expiresAt: new Date(now + spec.expirationSeconds * 1000) });
    },
  };
  const tokens = new PodTokens(pod, clocked, () => now);
  const t1 = await tokens.token("vault", 600);
  assert.equal(await tokens.token("vault", 600), t1, "held while fresh");
  now += 480_000;
  assert.notEqual(await tokens.token("vault", 600), t1, "renewed at 80 %");
  assert.deepEqual(tokenCalls.map((c) => c.audiences), [["vault"], ["vault"]]);
  assert.ok(tokens.nextRefreshAt()! > now);
});

Deno.test("hostPath: type checks and the create types", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vzk-hostpath-" });
  try {
    const hp = (path: string, type?: string) =>
      setUpHostPath({ name: "h", hostPath: { path, type } });
    assert.equal(await hp(`${dir}/new/deep`, "DirectoryOrCreate"), `${dir}/new/deep`);
    assert.ok((await Deno.stat(`${dir}/new/deep`)).isDirectory);
    await hp(`${dir}/f`, "FileOrCreate");
    assert.ok((await Deno.stat(`${dir}/f`)).isFile);
    await assert.rejects(
      hp(`${dir}/f`, "Directory"),
      /hostPath type check failed: .*\/f is a file, not a directory \(type Directory\)/,
    );
    await assert.rejects(hp(`${dir}/none`, "File"), /does not exist \(type File wants a file\)/);
    await assert.rejects(hp(`${dir}/f`, "Socket"), /is a file, not a socket/);
    await assert.rejects(
      hp(`${dir}/x/y`, "FileOrCreate"),
      /cannot be created: no parent directory/,
    );
    await assert.rejects(hp("relative"), /is not an absolute path/);
    assert.equal(await hp(`${dir}/anything`), `${dir}/anything`, "no type: no checks");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pod volumes: set up, Docker binds, refresh on change, tear down", async () => {
  const podDir = await Deno.makeTempDir({ prefix: "vzk-podvol-" });
  let mode = "fast";
  const changing: ObjectReader = {
    ...reader,
    configMap: () => Promise.resolve({ data: { mode } }),
  };
  const { plan } = planVolumes({
    spec: {
      volumes: [
        { name: "cfg", configMap: { name: "app" } },
        { name: "scratch", emptyDir: { sizeLimit: "8Ki" } },
      ],
      containers: [{
        name: "side",
        volumeMounts: [
          { name: "cfg", mountPath: "/etc/cfg", readOnly: true },
          { name: "scratch", mountPath: "/work", subPath: "side" },
        ],
      }],
    },
  });
  const v = new PodVolumes(plan, {
    podDir,
    reader: changing,
    downward: () => downward,
    log: silentLogger,
  });
  try {
    await v.setUp();
    assert.deepEqual(await v.binds("side"), [
      `${podDir}/volumes/config-map/cfg:/etc/cfg:ro`,
      `${podDir}/volumes/empty-dir/scratch/side:/work`,
    ]);
    assert.ok((await Deno.stat(`${podDir}/volumes/empty-dir/scratch/side`)).isDirectory);
    assert.equal((await Deno.stat(`${podDir}/volumes/empty-dir/scratch`)).mode! & 0o777, 0o777);
    assert.equal(await Deno.readTextFile(`${podDir}/volumes/config-map/cfg/mode`), "fast");
    // Usage is reported against the sizeLimit; going over it is said.
    const [before] = await v.stats();
    assert.equal(before.name, "scratch");
    assert.equal(before.capacityBytes, 8192);
    assert.equal(overLimitMessage(before), undefined);
    const data = new Uint8Array(20_000).fill(7);
    await Deno.writeFile(`${podDir}/volumes/empty-dir/scratch/side/big`, data);
    await Deno.link(
      `${podDir}/volumes/empty-dir/scratch/side/big`,
      `${podDir}/volumes/empty-dir/scratch/side/big-again`,
    );
    // Within the period, the last walk is served (/stats/summary); a period on, a new walk.
    const [cached] = await v.stats(60_000);
    assert.equal(cached.usedBytes, before.usedBytes, "the walk of before, not a new one");
    const [after] = await v.stats();
    assert.ok(after.usedBytes >= 20_000, `used ${after.usedBytes}`);
    assert.equal((await v.stats(60_000))[0].usedBytes, after.usedBytes);
    assert.ok(after.usedBytes < 40_000, "a hard link is counted once");
    assert.equal(after.inodesUsed, before.inodesUsed + 1);
    assert.equal(after.availableBytes, 0);
    assert.match(overLimitMessage(after)!, /EmptyDir volume "scratch" exceeds the limit "8192"/);
    mode = "slow";
    assert.deepEqual(await v.refresh(), []);
    assert.equal(await Deno.readTextFile(`${podDir}/volumes/config-map/cfg/mode`), "slow");
    await v.tearDown();
    await assert.rejects(Deno.stat(`${podDir}/volumes`));
  } finally {
    await Deno.remove(podDir, { recursive: true }).catch(() => {});
  }
});
