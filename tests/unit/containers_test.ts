// The Docker side's pure parts: create options from a pod's container (src/containers/spec.ts),
// names and labels, the multiplexed stream format (demux.ts), and timestamped log filtering
// for `kubectl logs --previous` (runtime/log_lines.ts).

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import {
  dockerCreateOptions,
  dockerResources,
  dockerUser,
  expandRefs,
  podHostname,
} from "../../src/containers/spec.ts";
import { containerName, isContainer } from "../../src/containers/names.ts";
import { Demuxer } from "../../src/containers/demux.ts";
import { filterTimestamped, limitBytes } from "../../src/runtime/log_lines.ts";

const id = { nodeName: "n1", namespace: "ci", pod: "runner-1", podUid: "u-1", container: "side" };
const pod: k8s.V1Pod = {
  metadata: { name: "runner-1", namespace: "ci", uid: "u-1" },
  spec: { containers: [] },
};

Deno.test("docker spec: command, args, env, hostname, limits, security, stdin", () => {
  const c: k8s.V1Container = {
    name: "side",
    image: "reg/busybox:1",
    command: ["sh", "-c"],
    args: ["echo $(GREETING) $$(NOT) $(MISSING)"],
    workingDir: "/work",
    ports: [{ containerPort: 8080 }, { containerPort: 53, protocol: "UDP" }],
    resources: { limits: { cpu: "1500m", memory: "128Mi" }, requests: { cpu: "100m" } },
    securityContext: {
      runAsUser: 1000,
      runAsGroup: 2000,
      privileged: true,
      readOnlyRootFilesystem: true,
      capabilities: { add: ["NET_ADMIN"], drop: ["ALL"] },
    },
    stdin: true,
    tty: true,
  };
  const o = dockerCreateOptions({
    id,
    pod,
    container: c,
    image: "reg/busybox:1",
    env: [["GREETING", "hello"], ["my.dotted-var", "x"]],
    network: "pods",
  });
  assert.equal(o.name, "macos-vz_ci_runner-1_side");
  assert.deepEqual(o.Entrypoint, ["sh", "-c"]);
  assert.deepEqual(o.Cmd, ["echo hello $(NOT) $(MISSING)"]);
  assert.deepEqual(o.Env, ["GREETING=hello", "my.dotted-var=x"]);
  assert.equal(o.WorkingDir, "/work");
  assert.equal(o.Hostname, "runner-1");
  assert.equal(o.User, "1000:2000");
  assert.deepEqual(o.ExposedPorts, { "8080/tcp": {}, "53/udp": {} });
  assert.equal(o.Tty, true);
  assert.equal(o.OpenStdin, true);
  assert.equal(o.HostConfig?.NetworkMode, "pods");
  assert.equal(o.HostConfig?.NanoCpus, 1_500_000_000);
  assert.equal(o.HostConfig?.Memory, 128 * 2 ** 20);
  assert.equal(o.HostConfig?.Privileged, true);
  assert.equal(o.HostConfig?.ReadonlyRootfs, true);
  assert.deepEqual(o.HostConfig?.CapAdd, ["NET_ADMIN"]);
  assert.deepEqual(o.HostConfig?.CapDrop, ["ALL"]);
  assert.deepEqual(o.Labels, {
    "io.macos-vz.node": "n1",
    "io.kubernetes.pod.uid": "u-1",
    "io.kubernetes.pod.namespace": "ci",
    "io.kubernetes.pod.name": "runner-1",
    "io.kubernetes.container.name": "side",
  });
});

Deno.test("docker spec: the image's entrypoint and cmd stay unless command/args replace them", () => {
  const base = { id, pod, image: "i", env: [] as [string, string][], network: "n" };
  const plain = dockerCreateOptions({ ...base, container: { name: "c" } });
  assert.equal(plain.Entrypoint, undefined);
  assert.equal(plain.Cmd, undefined);
  const argsOnly = dockerCreateOptions({ ...base, container: { name: "c", args: ["-v"] } });
  assert.equal(argsOnly.Entrypoint, undefined);
  assert.deepEqual(argsOnly.Cmd, ["-v"]);
  const commandOnly = dockerCreateOptions({ ...base, container: { name: "c", command: ["run"] } });
  assert.deepEqual(commandOnly.Cmd, [], "a command drops the image's CMD, as in Kubernetes");
  assert.equal(plain.User, undefined);
  assert.equal(plain.HostConfig?.NanoCpus, undefined);
});

Deno.test("docker spec: helpers", () => {
  assert.equal(expandRefs("$(A)-$(B)-$$(A)-$(", new Map([["A", "1"]])), "1-$(B)-$(A)-$(");
  assert.equal(
    podHostname({ metadata: { name: "p" }, spec: { hostname: "h", containers: [] } }),
    "h",
  );
  assert.equal(podHostname({ metadata: { name: "x".repeat(80) } }).length, 63);
  const podUser: k8s.V1Pod = {
    spec: { containers: [], securityContext: { runAsUser: 5, runAsGroup: 6 } },
  };
  assert.equal(dockerUser(podUser, { name: "c" }), "5:6");
  assert.equal(dockerUser(podUser, { name: "c", securityContext: { runAsUser: 7 } }), "7:6");
  assert.equal(dockerUser(pod, { name: "c", securityContext: { runAsGroup: 9 } }), "0:9");
  assert.deepEqual(dockerResources({ name: "c", resources: { requests: { memory: "1Gi" } } }), {});
  assert.equal(containerName(id), "macos-vz_ci_runner-1_side");
  const labels =
    dockerCreateOptions({ id, pod, image: "i", env: [], network: "n", container: { name: "side" } })
      .Labels;
  assert.ok(isContainer(labels, id));
  assert.ok(!isContainer(labels, { ...id, podUid: "u-2" }), "another pod of the same name");
  assert.ok(!isContainer(labels, { ...id, nodeName: "n2" }), "another node's agent");
});

function frame(type: number, text: string): Uint8Array {
  const data = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + data.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

Deno.test("demux: frames split anywhere come out whole and in order", () => {
  const bytes = new Uint8Array([...frame(1, "out1"), ...frame(2, "err"), ...frame(1, "out2")]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new Demuxer();
    const frames = [...d.push(bytes.slice(0, cut)), ...d.push(bytes.slice(cut))];
    const dec = new TextDecoder();
    assert.deepEqual(frames.map((f) => `${f.stream}:${dec.decode(f.data)}`), [
      "stdout:out1",
      "stderr:err",
      "stdout:out2",
    ]);
    assert.equal(d.pending, 0);
  }
  const d = new Demuxer();
  assert.deepEqual(d.push(frame(1, "partial").slice(0, 10)), []);
  assert.equal(d.pending, 10);
});

Deno.test("log lines: since, tail, timestamps and limit over timestamped lines", () => {
  const text =
    "2026-01-01T00:00:01.000000001Z one\n2026-01-01T00:00:02Z two\n2026-01-01T00:00:03Z three\n";
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(dec(filterTimestamped(text, {})), "one\ntwo\nthree\n");
  assert.equal(dec(filterTimestamped(text, { tailLines: 2 })), "two\nthree\n");
  assert.equal(dec(filterTimestamped(text, { tailLines: 0 })), "");
  assert.equal(
    dec(filterTimestamped(text, { timestamps: true, tailLines: 1 })),
    "2026-01-01T00:00:03Z three\n",
  );
  assert.equal(
    dec(filterTimestamped(text, { sinceTime: new Date("2026-01-01T00:00:02Z") })),
    "two\nthree\n",
  );
  const now = Date.parse("2026-01-01T00:00:03.5Z");
  assert.equal(dec(filterTimestamped(text, { sinceSeconds: 1 }, now)), "three\n");
  assert.equal(dec(filterTimestamped(text, { limitBytes: 6 })), "one\ntw");
});

Deno.test("log lines: limitBytes cuts a stream and cancels its source", async () => {
  let cancelled = false;
  const source = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new Uint8Array(4).fill(65)),
    cancel: () => void (cancelled = true),
  });
  const text = await new Response(limitBytes(source, 10)).text();
  assert.equal(text, "AAAAAAAAAA");
  assert.ok(cancelled);
});

Deno.test("docker networks: the gateway Docker leaves out is the subnet's first host", async () => {
  const { firstHost } = await import("../../src/containers/engine.ts");
  assert.equal(firstHost("10.252.7.0/24"), "10.252.7.1");
  assert.equal(firstHost("172.18.0.0/16"), "172.18.0.1");
  assert.equal(firstHost("10.1.2.128/25"), "10.1.2.129");
  assert.equal(firstHost("fd00::/64"), undefined);
});
