// The node's declared features (src/node/declared_features.ts): the list is one the API
// server's validation accepts (sorted, unique, UpperCamelCase), says ExtendWebSocketsToKubelet,
// and is what the Node object this agent writes carries in status.declaredFeatures.

import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import { DECLARED_FEATURES, declaredFeatureProblems } from "../../src/node/declared_features.ts";
import { buildNode, type NodeInput, nodeStatusFields } from "../../src/node/node_object.ts";

function input(): NodeInput {
  const parsed = parseConfig(["--nodename=mac-1"], {}, {
    os: "linux",
    homeDir: "/home/test",
    hostname: "ignored",
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return {
    config: parsed.config,
    host: {
      hostname: "mac-1",
      os: "linux",
      arch: "amd64",
      kernelVersion: "6.1.0",
      osImage: "Debian",
      cpus: 4,
      memoryBytes: 8 * 2 ** 30,
    },
    disk: { capacityBytes: 100 * 2 ** 30, availableBytes: 50 * 2 ** 30 },
    runtime: { ready: true, reason: "BackendReady", message: "", maxPods: 2, version: "qemu://8" },
  };
}

Deno.test("declared features: a list the API server accepts, with the WebSocket streams", () => {
  assert.deepEqual(declaredFeatureProblems(DECLARED_FEATURES), []);
  assert.ok(DECLARED_FEATURES.includes("ExtendWebSocketsToKubelet"));
});

Deno.test("declared features: the validation catches what the API server refuses", () => {
  assert.deepEqual(declaredFeatureProblems(["B", "A"]), ['"A" is out of order (sort the list)']);
  assert.deepEqual(declaredFeatureProblems(["A", "A"]), ['"A" is declared twice']);
  assert.deepEqual(declaredFeatureProblems(["lowerCase"]), [
    '"lowerCase" is not an UpperCamelCase feature name',
  ]);
  assert.deepEqual(declaredFeatureProblems(["Feature/sub", "Feature/sub/more"]), []);
  assert.equal(declaredFeatureProblems(["Feature/1x"]).length, 1);
  assert.equal(declaredFeatureProblems(["Has-Dash"]).length, 1);
});

Deno.test("declared features: the node status carries them, a copy each time", () => {
  const a = nodeStatusFields(input());
  assert.deepEqual(a.declaredFeatures, [...DECLARED_FEATURES]);
  a.declaredFeatures!.push("Extra");
  const node = buildNode(input());
  assert.deepEqual(node.status?.declaredFeatures, [...DECLARED_FEATURES]);
});
