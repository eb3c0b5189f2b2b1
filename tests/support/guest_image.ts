// Pushes the small Linux test guest to a registry with our own `image push` code, so tests
// pull it exactly as a cluster node would.

import { pushImage } from "../../src/image/push/push.ts";
import { parseReference } from "../../src/image/registry/reference.ts";
import { RegistryClient } from "../../src/image/registry/client.ts";
import type { TestGuest } from "../harness/guest.ts";

export async function pushTestGuest(guest: TestGuest, registryHost: string, tag = "v1") {
  const ref = `${registryHost}/vzk/test-guest:${tag}`;
  const tmpDir = await Deno.makeTempDir({ prefix: "vzk-push-" });
  const client = new RegistryClient();
  try {
    await pushImage(client, parseReference(ref), {
      os: "linux",
      files: { kernel: guest.kernel, initrd: guest.initrd, disk: guest.disk },
      cmdline: guest.cmdline,
    }, { tmpDir });
  } finally {
    client.close();
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  }
  return ref;
}
