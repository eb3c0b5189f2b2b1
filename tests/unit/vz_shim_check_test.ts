// The Objective-C shim against Apple's real Virtualization headers, on Linux: runs
// ../shared/tools/vz-check/check.sh --link --strict objc-shim/vzshim.m (compile for
// arm64-apple-macos13 with ARC, availability checked, every framework symbol link-checked
// against the SDK's Virtualization.tbd). Runs whenever that kit exists beside the repository;
// where it does not (e.g. GitHub's runners), the test is reported as ignored, not passed.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const kit = fileURLToPath(new URL("../../../shared/tools/vz-check/", import.meta.url));
const haveKit = (() => {
  try {
    return Deno.statSync(`${kit}check.sh`).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "vz shim: vz-check --link --strict passes (needs ../shared/tools/vz-check)",
  ignore: !haveKit,
  async fn() {
    const out = await new Deno.Command("bash", {
      args: [`${kit}check.sh`, "--link", "--strict", "objc-shim/vzshim.m"],
      cwd: repo,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `vz-check failed:\n${text}`);
    assert.match(text, /^PASS: objc-shim\/vzshim\.m$/m);
    assert.match(text, /vz-check: 1 passed, 0 failed/);
  },
});
