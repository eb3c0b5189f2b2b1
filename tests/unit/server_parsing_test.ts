// The kubelet API's pure parts: routes, log options, streaming options and protocol
// negotiation, the resize decoder, and the stats formats.

import assert from "node:assert/strict";
import { parseLogOptions } from "../../src/server/log_options.ts";
import { matchRoute } from "../../src/server/router.ts";
import { resourceMetrics, summary } from "../../src/server/stats_format.ts";
import { jsonObjectSplitter, resizeEvents } from "../../src/server/streaming/io.ts";
import {
  negotiate,
  parsePorts,
  parseStreamFlags,
  SPDY_EXEC_PROTOCOLS,
} from "../../src/server/streaming/options.ts";
import { encodeStatus, exitStatus } from "../../src/server/streaming/remote_command.ts";

Deno.test("server parsing: routes are the kubelet's paths", () => {
  assert.deepEqual(matchRoute("/containerLogs/ns/p/c"), {
    kind: "containerLogs",
    namespace: "ns",
    pod: "p",
    container: "c",
  });
  assert.deepEqual(matchRoute("/exec/ns/p/c"), {
    kind: "exec",
    namespace: "ns",
    pod: "p",
    container: "c",
  });
  assert.deepEqual(matchRoute("/attach/ns/p/uid-1/c"), {
    kind: "attach",
    namespace: "ns",
    pod: "p",
    uid: "uid-1",
    container: "c",
  });
  assert.deepEqual(matchRoute("/portForward/ns/p"), {
    kind: "portForward",
    namespace: "ns",
    pod: "p",
  });
  assert.deepEqual(matchRoute("/runningpods/"), { kind: "runningpods" });
  assert.deepEqual(matchRoute("/stats/summary"), { kind: "statsSummary" });
  assert.deepEqual(matchRoute("/exec/ns/p%20q/c"), {
    kind: "exec",
    namespace: "ns",
    pod: "p q",
    container: "c",
  });
  for (
    const bad of [
      "/exec/ns/p",
      "/containerLogs/ns/p",
      "/containerLogs/ns//c",
      "/nope",
      "/exec/%zz/p/c",
    ]
  ) {
    assert.equal(matchRoute(bad), undefined, bad);
  }
});

Deno.test("server parsing: log options follow PodLogOptions (400 unparsable, 422 invalid)", () => {
  const q = (s: string) => parseLogOptions(new URLSearchParams(s));
  assert.deepEqual(q("follow=true&tailLines=10&timestamps=1&limitBytes=5&previous=false"), {
    ok: true,
    options: { follow: true, tailLines: 10, timestamps: true, limitBytes: 5, previous: false },
  });
  const since = q("sinceTime=2024-01-02T03:04:05Z");
  assert.ok(since.ok && since.options.sinceTime?.toISOString() === "2024-01-02T03:04:05.000Z");
  assert.deepEqual(q("tail=3"), { ok: true, options: { tailLines: 3 } });
  assert.deepEqual(q("tail=all"), { ok: true, options: {} });
  assert.equal((q("follow=yes") as { code: number }).code, 400);
  assert.equal((q("tailLines=x") as { code: number }).code, 400);
  assert.equal((q("sinceTime=yesterday") as { code: number }).code, 400);
  assert.equal((q("tailLines=-1") as { code: number }).code, 422);
  assert.equal((q("limitBytes=0") as { code: number }).code, 422);
  assert.equal((q("sinceSeconds=0") as { code: number }).code, 422);
  assert.equal((q("sinceSeconds=5&sinceTime=2024-01-02T03:04:05Z") as { code: number }).code, 422);
});

Deno.test("server parsing: stream flags, ports and protocol negotiation", () => {
  const f = parseStreamFlags(new URLSearchParams("input=1&output=1&error=1&tty=1"));
  assert.deepEqual(f, { ok: true, value: { stdin: true, stdout: true, stderr: false, tty: true } });
  assert.equal(parseStreamFlags(new URLSearchParams("tty=1")).ok, false);
  assert.deepEqual(parsePorts(new URLSearchParams("ports=80,443&ports=8080")), {
    ok: true,
    value: [80, 443, 8080],
  });
  assert.equal(parsePorts(new URLSearchParams("ports=0")).ok, false);
  assert.equal(parsePorts(new URLSearchParams("ports=70000")).ok, false);
  // The caller's preference wins among what both speak.
  assert.equal(
    negotiate(["v4.channel.k8s.io", "v3.channel.k8s.io"], SPDY_EXEC_PROTOCOLS),
    "v4.channel.k8s.io",
  );
  assert.equal(negotiate(["x", "channel.k8s.io"], SPDY_EXEC_PROTOCOLS), "channel.k8s.io");
  assert.equal(negotiate(["v9.channel.k8s.io"], SPDY_EXEC_PROTOCOLS), undefined);
});

Deno.test("server parsing: exit status on the error channel, per protocol generation", () => {
  const dec = (b: Uint8Array | undefined) => b && new TextDecoder().decode(b);
  assert.deepEqual(JSON.parse(dec(encodeStatus(exitStatus(0, ["true"]), 4))!), {
    metadata: {},
    status: "Success",
  });
  const three = JSON.parse(dec(encodeStatus(exitStatus(3, ["sh", "-c", "exit 3"]), 4))!);
  assert.equal(three.reason, "NonZeroExitCode");
  assert.deepEqual(three.details.causes, [{ reason: "ExitCode", message: "3" }]);
  // Before v4 only failures are written, as text.
  assert.equal(encodeStatus(exitStatus(0, ["true"]), 3), undefined);
  assert.match(dec(encodeStatus(exitStatus(3, ["x"]), 2))!, /non-zero exit code/);
});

Deno.test("server parsing: resize messages split anywhere decode to terminal sizes", async () => {
  const split = jsonObjectSplitter();
  assert.deepEqual(split('{"Width":80,'), []);
  assert.deepEqual(split('"Height":24}{"Width":1'), ['{"Width":80,"Height":24}']);
  assert.deepEqual(split('00,"Height":"}{"}'), ['{"Width":100,"Height":"}{"}']);
  const enc = new TextEncoder();
  const source = ReadableStream.from(
    ['{"Width":80,"He', 'ight":24}{"Width":120,"Height":40}', "garbage", '{"Width":-1,"Height":3}']
      .map((s) => enc.encode(s)),
  );
  const sizes = [];
  for await (const s of resizeEvents(source)) sizes.push(s);
  assert.deepEqual(sizes, [{ width: 80, height: 24 }, { width: 120, height: 40 }]);
});

Deno.test("server parsing: stats summary and resource metrics formats", () => {
  const node = {
    time: new Date(2_000_000),
    startTime: new Date(1_000_000),
    cpuUsageCoreNanoSeconds: 5e9,
    cpuUsageNanoCores: 1e8,
    memoryTotalBytes: 1000,
    memoryAvailableBytes: 400,
  };
  const pods = [{
    namespace: "ns",
    name: "p",
    uid: "u",
    time: new Date(2_000_000),
    containers: [
      {
        name: "a",
        cpuUsageCoreNanoSeconds: 2e9,
        memoryWorkingSetBytes: 10,
        startTime: new Date(1_500_000),
      },
      { name: "b", cpuUsageCoreNanoSeconds: 1e9, memoryWorkingSetBytes: 5 },
    ],
    volumes: [{
      name: "scratch",
      usedBytes: 4096,
      inodesUsed: 2,
      capacityBytes: 8192,
      availableBytes: 4096,
    }],
  }];
  const s = summary("n1", node, pods);
  assert.deepEqual(s.pods[0].volume, [{
    time: new Date(2_000_000).toISOString(),
    name: "scratch",
    usedBytes: 4096,
    inodesUsed: 2,
    capacityBytes: 8192,
    availableBytes: 4096,
  }]);
  assert.equal(s.node.nodeName, "n1");
  assert.equal(s.node.memory.workingSetBytes, 600);
  assert.equal(s.pods[0].cpu.usageCoreNanoSeconds, 3e9);
  assert.equal(s.pods[0].memory.workingSetBytes, 15);
  assert.deepEqual(s.pods[0].podRef, { name: "p", namespace: "ns", uid: "u" });
  const text = resourceMetrics(node, pods);
  assert.match(
    text,
    /^container_cpu_usage_seconds_total\{container="a",namespace="ns",pod="p"\} 2 2000000$/m,
  );
  assert.match(text, /^pod_memory_working_set_bytes\{namespace="ns",pod="p"\} 15 2000000$/m);
  assert.match(text, /^node_cpu_usage_seconds_total 5 2000000$/m);
  assert.match(text, /^node_memory_working_set_bytes 600 2000000$/m);
  assert.match(
    text,
    /^container_start_time_seconds\{container="a",namespace="ns",pod="p"\} 1500$/m,
  );
  assert.match(text, /^# TYPE container_cpu_usage_seconds_total counter$/m);
});
