// Pod volumes and API-sourced environment end to end: a real control plane, a real QEMU guest
// (volumes as virtio-fs shares mounted in the guest) and a Docker sidecar (bind mounts) on a
// real dockerd. Config map and secret files with their modes, read-only mounts, an emptyDir
// shared by the VM and the sidecar, hostPath types, the downward API, env from valueFrom and
// envFrom, config map updates seen in the guest, the default service-account token volume
// used to call the API server from inside the guest (TLS verified with the mounted CA),
// unsupported volumes refused, missing objects waited for, and nothing left on deletion.

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { eventually, podEvents, testPod } from "../support/world.ts";
import { isReady, startVmWorld, type VmWorld } from "../support/vm_world.ts";

const NODE = "vol-node";
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

function pod(w: VmWorld, name: string, spec: {
  vm?: Partial<k8s.V1Container>;
  side?: Partial<k8s.V1Container>;
  volumes?: k8s.V1Volume[];
}): k8s.V1Pod {
  const p = testPod(name, NODE, {
    grace: 5,
    containers: [
      {
        name: "vm",
        image: w.image,
        resources: { requests: { cpu: "1", memory: "256Mi" } },
        ...spec.vm,
      },
      ...(spec.side
        ? [{
          name: "side",
          image: w.busybox!,
          command: ["sh", "-c", "exec sleep 3600"],
          ...spec.side,
        }]
        : []),
    ],
  });
  p.metadata!.labels = { app: "vol", tier: "test" };
  p.spec!.volumes = spec.volumes;
  return p;
}

Deno.test({
  name: "volumes and env from the API, in the VM and in a sidecar",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // The API allows no token under 10 minutes: the agent asks again after 1 % of the lifetime
    // (6 s) instead of the kubelet's 80 %, so rotation is seen within the test.
    const w = await startVmWorld({
      node: NODE,
      docker: true,
      volumeTiming: { refreshMs: 2_000, tokenRefreshFraction: 0.01 },
    });
    const hostDir = await Deno.makeTempDir({ prefix: "vzk-hostpath-" });
    const ns = "default";
    const inVm = (name: string, script: string) =>
      w.kubectl(["exec", name, "-c", "vm", "--", "sh", "-c", script]);
    const inSide = (name: string, script: string) =>
      w.kubectl(["exec", name, "-c", "side", "--", "sh", "-c", script]);
    try {
      await w.admin.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: "app-config" }, data: { "app.conf": "mode=fast\n", level: "2" } },
      });
      await w.admin.core.createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: "app-secret" },
          data: { password: btoa("s3cret"), user: btoa("builder") },
        },
      });

      await t.step(
        "config maps, secrets, emptyDir, hostPath and downward API in VM and sidecar",
        async () => {
          const volumes: k8s.V1Volume[] = [
            {
              name: "cfg",
              configMap: {
                name: "app-config",
                items: [{ key: "app.conf", path: "app.conf", mode: 0o640 }],
              },
            },
            { name: "secret", secret: { secretName: "app-secret", defaultMode: 0o400 } },
            { name: "shared", emptyDir: { sizeLimit: "64Mi" } },
            { name: "host", hostPath: { path: `${hostDir}/made`, type: "DirectoryOrCreate" } },
            {
              name: "info",
              downwardAPI: {
                items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }],
              },
            },
            {
              name: "short-token",
              projected: {
                sources: [{
                  serviceAccountToken: {
                    path: "token",
                    audience: "vzk-rotation",
                    expirationSeconds: 600,
                  },
                }],
              },
            },
          ];
          await w.create(pod(w, "files", {
            volumes,
            vm: {
              volumeMounts: [
                { name: "cfg", mountPath: "/etc/cfg", readOnly: true },
                { name: "secret", mountPath: "/etc/secret", readOnly: true },
                { name: "shared", mountPath: "/shared" },
                { name: "host", mountPath: "/host" },
                { name: "info", mountPath: "/etc/podinfo" },
                { name: "short-token", mountPath: "/var/run/short", readOnly: true },
              ],
              env: [
                {
                  name: "LEVEL",
                  valueFrom: { configMapKeyRef: { name: "app-config", key: "level" } },
                },
                {
                  name: "PASSWORD",
                  valueFrom: { secretKeyRef: { name: "app-secret", key: "password" } },
                },
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                { name: "my.dotted-var", value: "dots work" },
              ],
              envFrom: [{ secretRef: { name: "app-secret" }, prefix: "SECRET_" }],
            },
            side: {
              volumeMounts: [
                { name: "shared", mountPath: "/shared" },
                { name: "cfg", mountPath: "/cfg", readOnly: true },
              ],
            },
          }));
          await w.waitReady("files");
          assert.equal((await inVm("files", "cat /etc/cfg/app.conf")).stdout, "mode=fast\n");
          assert.equal(
            (await inVm("files", "stat -L -c %a /etc/cfg/app.conf")).stdout.trim(),
            "640",
          );
          assert.equal((await inVm("files", "cat /etc/secret/password")).stdout, "s3cret");
          assert.equal(
            (await inVm("files", "stat -L -c %a /etc/secret/user")).stdout.trim(),
            "400",
          );
          const ro = await inVm("files", "touch /etc/cfg/new");
          assert.notEqual(ro.code, 0, "read-only mount");
          assert.match(ro.stderr, /Read-only file system/);
          assert.match(
            (await inVm("files", "cat /etc/podinfo/labels")).stdout,
            /^app="vol"\ntier="test"\n$/,
          );
          // One emptyDir, two machines: the sidecar and the VM see each other's files.
          await inSide("files", "echo from-side > /shared/side.txt");
          assert.equal((await inVm("files", "cat /shared/side.txt")).stdout, "from-side\n");
          await inVm("files", "echo from-vm > /shared/vm.txt");
          assert.equal((await inSide("files", "cat /shared/vm.txt")).stdout, "from-vm\n");
          assert.equal((await inSide("files", "cat /cfg/app.conf")).stdout, "mode=fast\n");
          // The emptyDir's usage against its sizeLimit, in /stats/summary through the API server.
          // It is walked once per refresh period (2 s here; a minute by default, as the
          // kubelet's volume stats), so the two files show within a period or two.
          const shared = await eventually(
            "the emptyDir's two files in /stats/summary",
            async () => {
              const summary = JSON.parse(
                (await w.kubectl(["get", "--raw", `/api/v1/nodes/${NODE}/proxy/stats/summary`]))
                  .stdout,
              );
              const v = summary.pods
                .find((p: { podRef: { name: string } }) => p.podRef.name === "files")
                ?.volume?.find((v: { name: string }) => v.name === "shared");
              return v?.inodesUsed >= 3 ? v : undefined;
            },
            15_000,
            500,
          );
          assert.equal(shared.capacityBytes, 64 * 2 ** 20, JSON.stringify(shared));
          assert.ok(shared.usedBytes > 0, JSON.stringify(shared));
          // hostPath DirectoryOrCreate made the directory; the guest writes into it.
          await inVm("files", "echo on-host > /host/out.txt");
          assert.equal(await Deno.readTextFile(`${hostDir}/made/out.txt`), "on-host\n");
          // Environment from the API, and names a shell could not assign.
          const env = (await w.kubectl(["exec", "files", "-c", "vm", "--", "env"])).stdout;
          for (
            const line of [
              "LEVEL=2",
              "PASSWORD=s3cret",
              "POD_NAME=files",
              "SECRET_user=builder",
              "my.dotted-var=dots work",
            ]
          ) {
            assert.ok(env.split("\n").includes(line), `${line} in\n${env}`);
          }
        },
      );

      await t.step("a config map update reaches the guest and the sidecar", async () => {
        await w.kubectl([
          "patch",
          "configmap",
          "app-config",
          "--type=merge",
          "-p",
          '{"data":{"app.conf":"mode=slow\\n"}}',
        ]);
        await eventually(
          "mode=slow in the guest",
          async () => (await inVm("files", "cat /etc/cfg/app.conf")).stdout === "mode=slow\n",
          30_000,
        );
        await eventually(
          "mode=slow in the sidecar",
          async () => (await inSide("files", "cat /cfg/app.conf")).stdout === "mode=slow\n",
          30_000,
        );
      });

      await t.step(
        "the default token volume lets the guest and the sidecar call the API server",
        async () => {
          const p = await w.read("files");
          assert.ok(
            p.spec?.volumes?.some((v) => v.name.startsWith("kube-api-access")),
            "admission added it",
          );
          const call =
            `curl -sS --fail --cacert ${SA_DIR}/ca.crt -H "Authorization: Bearer $(cat ${SA_DIR}/token)" ` +
            `"https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api" && cat ${SA_DIR}/namespace`;
          for (const [where, run] of [["guest", inVm], ["sidecar", inSide]] as const) {
            const r = await run("files", call);
            assert.equal(r.code, 0, `${where}: ${r.stderr}`);
            assert.match(r.stdout, /"kind": ?"APIVersions"/, where);
            assert.match(r.stdout, /default$/, `${where}: the namespace file`);
          }
          // The token is the pod's: bound to it (its claims name the pod).
          const token = (await inVm("files", `cat ${SA_DIR}/token`)).stdout;
          const claims = JSON.parse(
            atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")),
          );
          assert.equal(claims["kubernetes.io"]?.pod?.name, "files");
          assert.equal(claims["kubernetes.io"]?.pod?.uid, p.metadata!.uid);
        },
      );

      await t.step(
        "a projected token is rotated before it expires, and the new one works",
        async () => {
          const claims = (token: string) =>
            JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
          const first = (await inVm("files", "cat /var/run/short/token")).stdout;
          const c1 = claims(first);
          assert.deepEqual(c1.aud, ["vzk-rotation"]);
          assert.equal(c1.exp - c1.iat, 600);
          const second = await eventually(
            "a new token in the guest",
            async () => {
              const t = (await inVm("files", "cat /var/run/short/token")).stdout;
              return t && t !== first ? t : undefined;
            },
            60_000,
            1_000,
          );
          const c2 = claims(second);
          assert.ok(c2.iat > c1.iat, "issued later");
          assert.ok(Date.now() / 1000 < c1.exp, "rotated before the first one expired");
          // The new token is a valid one for its audience: TokenReview accepts it.
          const created = await w.kubectl(
            ["create", "-o", "json", "-f", "-"],
            JSON.stringify({
              apiVersion: "authentication.k8s.io/v1",
              kind: "TokenReview",
              spec: { token: second, audiences: ["vzk-rotation"] },
            }),
          );
          assert.equal(created.code, 0, created.stderr);
          const review = JSON.parse(created.stdout);
          assert.equal(review.status?.authenticated, true, review.status?.error);
          assert.equal(review.status?.user?.username, "system:serviceaccount:default:default");
        },
      );

      await t.step(
        "a runner sidecar finds its VM through the API server and reaches its SSH",
        async () => {
          // The upstream system's hybrid pattern: the sidecar's postStart hook reads its token
          // and CA, asks the API server for its own pod (hostname = pod name) to learn the pod
          // IP, then connects to the VM's SSH there.
          await w.kubectl(["create", "role", "pod-reader", "--verb=get", "--resource=pods"]);
          await w.kubectl([
            "create",
            "rolebinding",
            "pod-reader",
            "--role=pod-reader",
            "--serviceaccount=default:default",
          ]);
          const hook = [
            `TOKEN=$(cat ${SA_DIR}/token); NS=$(cat ${SA_DIR}/namespace)`,
            "for i in $(seq 1 120); do",
            `  IP=$(curl -sS --cacert ${SA_DIR}/ca.crt -H "Authorization: Bearer $TOKEN" ` +
            '"https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/$NS/pods/$(hostname)" ' +
            `| sed -n 's/.*"podIP": *"\\([0-9.]*\\)".*/\\1/p')`,
            '  if [ -n "$IP" ] && nc -w 3 "$IP" 22 </dev/null | grep -q SSH; then echo "reached $IP" > /tmp/runner; exit 0; fi',
            "  sleep 1",
            "done; exit 1",
          ].join("\n");
          await w.create(pod(w, "runner", {
            side: { lifecycle: { postStart: { exec: { command: ["sh", "-c", hook] } } } },
          }));
          const p = await w.waitReady("runner");
          const out = (await inSide("runner", "cat /tmp/runner")).stdout;
          assert.equal(out, `reached ${p.status!.podIP}\n`);
          await w.remove("runner");
        },
      );

      await t.step("deletion leaves no volume directory, share or mount", async () => {
        const uid = (await w.read("files")).metadata!.uid!;
        await w.remove("files");
        await assert.rejects(Deno.stat(`${w.config.cacheDir}/pods/${uid}`));
        assert.deepEqual(await w.leftoverVms(), []);
        const left = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).map((e) => {
          try {
            return Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
          } catch {
            return "";
          }
        }).filter((cmd) => cmd.includes("virtiofsd") && cmd.includes(`${w.config.cacheDir}/vms/`));
        assert.deepEqual(left, [], "no virtiofsd left");
        assert.ok((await Deno.stat(`${hostDir}/made/out.txt`)).isFile, "hostPath content stays");
      });

      await t.step("an unsupported volume fails admission naming it", async () => {
        await w.create(
          pod(w, "pvc", { volumes: [{ name: "data", persistentVolumeClaim: { claimName: "c" } }] }),
        );
        const p = await eventually("pvc Failed", async () => {
          const p = await w.read("pvc");
          return p.status?.phase === "Failed" && p;
        });
        assert.match(
          p.status?.message ?? "",
          /spec\.volumes\[0\] \(data\): volumes of type persistentVolumeClaim are not supported/,
        );
        await w.remove("pvc");
      });

      await t.step("missing objects: the pod waits, then starts once they exist", async () => {
        await w.create(pod(w, "waits", {
          volumes: [{ name: "later", configMap: { name: "later-config" } }],
          vm: {
            volumeMounts: [{ name: "later", mountPath: "/etc/later" }],
            env: [{
              name: "TOKEN",
              valueFrom: { secretKeyRef: { name: "later-secret", key: "token" } },
            }],
          },
        }));
        const mount = await eventually(
          "FailedMount",
          async () =>
            (await podEvents(w.admin, ns, "waits")).find((e) => e.reason === "FailedMount"),
        );
        assert.match(mount.message ?? "", /configMap "default\/later-config" not found/);
        assert.equal((await w.read("waits")).status?.phase, "Pending");
        await w.admin.core.createNamespacedConfigMap({
          namespace: ns,
          body: { metadata: { name: "later-config" }, data: { x: "1" } },
        });
        const waiting = await eventually("CreateContainerConfigError", async () => {
          const s = (await w.read("waits")).status?.containerStatuses?.[0]?.state?.waiting;
          return s?.reason === "CreateContainerConfigError" && s;
        }, 60_000);
        assert.match(waiting.message ?? "", /secret "default\/later-secret" not found/);
        await w.admin.core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name: "later-secret" }, data: { token: btoa("t") } },
        });
        await eventually("waits Ready", async () => isReady(await w.read("waits")), 180_000);
        assert.equal((await inVm("waits", "cat /etc/later/x")).stdout, "1");
        await w.remove("waits");
      });
    } finally {
      await w.stop();
      await Deno.remove(hostDir, { recursive: true }).catch(() => {});
    }
  },
});
