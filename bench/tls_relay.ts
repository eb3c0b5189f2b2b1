// The floor under kube-apiserver's CPU per GiB for a proxied stream: `size` bytes through a
// bare Go TLS relay (bench/tls_relay, copying as kube-apiserver's upgrade-aware proxy does),
// the relay's own CPU seconds per GiB. Run in the same rounds as the kubelet API transfers.

import { freePort } from "../tests/harness/ports.ts";
import { goProgram } from "./go_build.ts";
import { cpuSeconds } from "./transfer_meter.ts";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The relay's CPU seconds per GiB for `size` bytes, one way. */
export async function tlsRelayFloor(size: number): Promise<number> {
  const bin = await goProgram("tls_relay", ["go.mod", "main.go"]);
  const relayAddr = `127.0.0.1:${freePort()}`;
  const sourceAddr = `127.0.0.1:${freePort()}`;
  const relay = new Deno.Command(bin, {
    args: ["relay", relayAddr, sourceAddr],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const first = await relay.stdout.getReader().read();
    if (!new TextDecoder().decode(first.value).includes("ready")) {
      throw new Error("bench/tls_relay ended before it was ready");
    }
    const before = await cpuSeconds(relay.pid);
    const ends = await new Deno.Command(bin, {
      args: ["ends", sourceAddr, relayAddr, String(Math.ceil(size / MiB))],
      stderr: "inherit",
    }).output();
    const moved = Number(new TextDecoder().decode(ends.stdout).trim());
    if (!ends.success || moved !== Math.ceil(size / MiB) * MiB) {
      throw new Error(`bench/tls_relay moved ${moved} bytes of ${size}`);
    }
    return (await cpuSeconds(relay.pid) - before) / (moved / GiB);
  } finally {
    relay.kill("SIGKILL");
    await relay.status;
  }
}

if (import.meta.main) {
  console.log(`${(await tlsRelayFloor(256 * MiB)).toFixed(2)} CPU s/GiB`);
}
