// ffi's pure parts: decoding the shim's JSON (host info, events, errors, states), C strings,
// and where the dylib is looked for.

import assert from "node:assert/strict";
import { parseEvent, parseHostInfo, parseShimError, stateName } from "../../ffi/codec.ts";
import { SHIM_FILE, shimCandidates } from "../../ffi/locate.ts";
import { cString } from "../../ffi/shim.ts";
import { ShimError, VZ_ERROR_DOMAIN, VZ_ERROR_LIMIT_EXCEEDED } from "../../ffi/types.ts";

Deno.test("vz ffi: host info, with booleans as true/false or 1/0", () => {
  const text = JSON.stringify({
    abi: 1,
    supported: true,
    macOSVersion: "15.1.1",
    minCpus: 1,
    maxCpus: 10,
    minMemoryBytes: 134217728,
    maxMemoryBytes: 68719476736,
    bridgedInterfaces: [{ identifier: "en0", name: "Ethernet" }, { identifier: "en1" }],
  });
  const info = parseHostInfo(text);
  assert.equal(info.supported, true);
  assert.equal(info.macOSVersion, "15.1.1");
  assert.equal(info.maxCpus, 10);
  assert.deepEqual(info.bridgedInterfaces, [
    { identifier: "en0", name: "Ethernet" },
    { identifier: "en1", name: "en1" },
  ]);
  assert.equal(parseHostInfo(text.replace('"supported":true', '"supported":1')).supported, true);
  assert.equal(parseHostInfo(text.replace('"supported":true', '"supported":0')).supported, false);
  const err = (() => {
    try {
      parseHostInfo('{"domain":"NSException","code":-1,"message":"boom"}');
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof ShimError);
  assert.equal(err.message, "boom");
  assert.throws(() => parseHostInfo("not json"), /host info is not JSON/);
});

Deno.test("vz ffi: errors keep domain and code; plain text stays the message", () => {
  const e = parseShimError(
    JSON.stringify({ domain: VZ_ERROR_DOMAIN, code: 6, message: "The number of VMs exceeds" }),
  );
  assert.ok(e.is(VZ_ERROR_DOMAIN, VZ_ERROR_LIMIT_EXCEEDED));
  assert.equal(e.message, "The number of VMs exceeds");
  const plain = parseShimError("something odd");
  assert.equal(plain.domain, "vzshim");
  assert.equal(plain.code, 0);
  assert.equal(plain.message, "something odd");
});

Deno.test("vz ffi: events and states", () => {
  assert.deepEqual(parseEvent('{"type":"state","state":"running"}'), {
    type: "state",
    state: "running",
  });
  assert.deepEqual(parseEvent('{"type":"state","state":"weird"}'), {
    type: "state",
    state: "unknown",
  });
  assert.deepEqual(parseEvent('{"type":"guest-stopped"}'), { type: "guest-stopped" });
  assert.deepEqual(
    parseEvent(
      '{"type":"stopped-with-error","error":{"domain":"VZErrorDomain","code":1,' +
        '"message":"internal"}}',
    ),
    {
      type: "stopped-with-error",
      error: { domain: "VZErrorDomain", code: 1, message: "internal" },
    },
  );
  assert.equal(parseEvent('{"type":"other"}'), undefined);
  assert.equal(parseEvent("[1]"), undefined);
  assert.equal(parseEvent("{"), undefined);
  assert.equal(stateName(0), "stopped");
  assert.equal(stateName(1), "running");
  assert.equal(stateName(3), "error");
  assert.equal(stateName(7), "stopping");
  assert.equal(stateName(9), "restoring");
  assert.equal(stateName(-1), "unknown");
  assert.equal(stateName(42), "unknown");
});

Deno.test("vz ffi: C strings are NUL-terminated UTF-8 and refuse inner NULs", () => {
  assert.deepEqual([...cString("aé")], [0x61, 0xc3, 0xa9, 0]);
  assert.throws(() => cString("a\0b"), /contains NUL/);
});

Deno.test("vz ffi: the dylib is looked for at VZK_SHIM_PATH only, else beside the binary", () => {
  assert.deepEqual(shimCandidates({ VZK_SHIM_PATH: "/opt/x.dylib" }, "/usr/local/bin/agent"), [
    "/opt/x.dylib",
  ]);
  const c = shimCandidates({}, "/usr/local/bin/agent", new URL("file:///src/objc-shim/x.dylib"));
  assert.deepEqual(c, [`/usr/local/bin/${SHIM_FILE}`, "/src/objc-shim/x.dylib"]);
});
