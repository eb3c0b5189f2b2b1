// A container's environment (src/runtime/env.ts): envFrom then env, $(VAR) references,
// the downward API, resource fields, config map and secret keys, and the errors that make a
// container wait with CreateContainerConfigError (never a value of a secret in them).

import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { type EnvContext, needsPodIP, resolveEnv } from "../../src/runtime/env.ts";
import type { ObjectReader } from "../../src/kube/objects.ts";

const b64 = (s: string) => btoa(s);

const reader: ObjectReader = {
  secret: (_ns, name) =>
    Promise.resolve(
      name === "db" ? { data: { password: b64("s3cret"), user: b64("app") } } : undefined,
    ),
  configMap: (_ns, name) =>
    Promise.resolve(name === "cfg" ? { data: { MODE: "fast", LEVEL: "2" } } : undefined),
  serviceAccount: () => Promise.resolve(undefined),
  token: () => Promise.reject(new Error("no tokens here")),
};

const pod: k8s.V1Pod = {
  metadata: {
    name: "p",
    namespace: "ci",
    uid: "u-1",
    labels: { app: "runner" },
    annotations: { "example.com/x": "y" },
  },
  spec: { nodeName: "mac-1", serviceAccountName: "builder", containers: [] },
};

function ctx(container: k8s.V1Container, extra: Partial<EnvContext> = {}): EnvContext {
  return {
    pod,
    container,
    field: "spec.containers[1] (side)",
    podIP: "10.0.0.5",
    hostIP: "192.168.1.2",
    nodeName: "mac-1",
    nodeCpus: 8,
    nodeMemoryBytes: 16 * 2 ** 30,
    reader,
    ...extra,
  };
}

Deno.test("env: envFrom first, env after, references and every source", async () => {
  const env = await resolveEnv(ctx({
    name: "side",
    envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CFG_" }, { secretRef: { name: "db" } }],
    env: [
      { name: "A", value: "1" },
      { name: "B", value: "$(A)-$(CFG_MODE)-$(NOPE)" },
      { name: "NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
      { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      {
        name: "ANN",
        valueFrom: { fieldRef: { fieldPath: "metadata.annotations['example.com/x']" } },
      },
      { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
      { name: "SA", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
      { name: "PW", valueFrom: { secretKeyRef: { name: "db", key: "password" } } },
      { name: "LVL", valueFrom: { configMapKeyRef: { name: "cfg", key: "LEVEL" } } },
      { name: "OPT", valueFrom: { secretKeyRef: { name: "gone", key: "k", optional: true } } },
      { name: "user", value: "overridden" },
    ],
  }));
  assert.deepEqual(Object.fromEntries(env), {
    CFG_MODE: "fast",
    CFG_LEVEL: "2",
    password: "s3cret",
    user: "overridden",
    A: "1",
    B: "1-fast-$(NOPE)",
    NAME: "p",
    NS: "ci",
    UID: "u-1",
    APP: "runner",
    ANN: "y",
    NODE: "mac-1",
    SA: "builder",
    POD_IP: "10.0.0.5",
    HOST_IP: "192.168.1.2",
    PW: "s3cret",
    LVL: "2",
  });
  assert.equal(env[0][0], "CFG_MODE", "envFrom comes first");
});

Deno.test("env: resource fields in divisor units, node allocatable when unlimited", async () => {
  const c: k8s.V1Container = {
    name: "side",
    resources: { limits: { cpu: "1500m", memory: "1Gi" }, requests: { cpu: "250m" } },
    env: [
      { name: "CPU", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
      {
        name: "CPU_M",
        valueFrom: { resourceFieldRef: { resource: "requests.cpu", divisor: "1m" } },
      },
      {
        name: "MEM_MI",
        valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } },
      },
      { name: "REQ_MEM", valueFrom: { resourceFieldRef: { resource: "requests.memory" } } },
    ],
  };
  assert.deepEqual(Object.fromEntries(await resolveEnv(ctx(c))), {
    CPU: "2",
    CPU_M: "250",
    MEM_MI: "1024",
    REQ_MEM: String(2 ** 30),
  });
  const unlimited = await resolveEnv(ctx({
    name: "x",
    env: [{ name: "CPU", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } }],
  }));
  assert.deepEqual(unlimited, [["CPU", "8"]]);
});

Deno.test("env: a missing object or key waits with a message naming the field", async () => {
  const err = (c: k8s.V1Container) => resolveEnv(ctx(c)).then(() => undefined, (e) => e);
  const missing = await err({
    name: "side",
    env: [{ name: "PW", valueFrom: { secretKeyRef: { name: "absent", key: "k" } } }],
  });
  assert.equal(missing.reason, "CreateContainerConfigError");
  assert.match(
    missing.message,
    /^spec\.containers\[1\] \(side\)\.env\[0\] \(PW\): secret "ci\/absent" not found/,
  );
  const key = await err({
    name: "side",
    env: [{ name: "PW", valueFrom: { secretKeyRef: { name: "db", key: "token" } } }],
  });
  assert.match(key.message, /key "token" not found in secret "ci\/db"/);
  assert.ok(!key.message.includes("s3cret"), "no secret value in messages");
  const from = await err({ name: "side", envFrom: [{ configMapRef: { name: "nope" } }] });
  assert.match(from.message, /envFrom\[0\]: configMap "ci\/nope" not found/);
  const field = await err({
    name: "side",
    env: [{ name: "X", valueFrom: { fieldRef: { fieldPath: "spec.bogus" } } }],
  });
  assert.match(field.message, /unsupported field "spec\.bogus"/);
});

Deno.test("env: who waits for the pod IP", () => {
  assert.equal(needsPodIP({ name: "a", env: [{ name: "X", value: "1" }] }), false);
  assert.equal(
    needsPodIP({
      name: "a",
      env: [{ name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIPs" } } }],
    }),
    true,
  );
});
