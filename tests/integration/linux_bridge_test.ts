// The qemu backend's bridge refuses a subnet another interface already holds (a leftover
// bridge of an earlier agent on the default subnet, say): its route would compete with the
// bridge's and guests would never answer. The error names the interface and the fix.

import assert from "node:assert/strict";
import { ensureBridge, linkExists, removeBridge } from "../../src/network/linux_bridge.ts";
import { planSubnet } from "../../src/network/subnet.ts";

async function ip(...args: string[]): Promise<void> {
  const r = await new Deno.Command("ip", { args, stderr: "piped" }).output();
  if (!r.success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test("linux bridge: a subnet held by another interface is refused, by name", async () => {
  const hex = Math.floor(Math.random() * 0xffff).toString(16);
  const other = `vzkqo${hex}`;
  const bridge = `vzkqb${hex}`;
  const third = Math.floor(Math.random() * 250) + 1;
  await ip("link", "add", other, "type", "bridge");
  try {
    await ip("addr", "add", `10.247.${third}.7/24`, "dev", other);
    // The same /24, and a /25 inside it: both overlap.
    for (const cidr of [`10.247.${third}.0/24`, `10.247.${third}.128/25`]) {
      await assert.rejects(
        ensureBridge(bridge, planSubnet(cidr)),
        new RegExp(
          `bridge ${bridge}: subnet ${cidr.replace(".", "\\.")} is already on ${other} ` +
            `\\(10\\.247\\.${third}\\.7/24\\).*--qemu-subnet.*ip link del ${other}`,
        ),
      );
      assert.equal(await linkExists(bridge), false, "nothing was made");
    }
    // A subnet beside it is fine, and so is taking over the bridge's own address again.
    const free = planSubnet(`10.246.${third}.0/24`);
    await ensureBridge(bridge, free);
    await ensureBridge(bridge, free);
    assert.equal(await linkExists(bridge), true);
  } finally {
    await removeBridge(bridge).catch(() => {});
    await ip("link", "del", other).catch(() => {});
  }
});
