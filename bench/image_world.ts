// The world of the image benchmarks: a synthetic disk (1 MiB blocks: 60 % zeros left as
// holes, 25 % compressible text, 15 % random), the real local registry, and the disk pushed
// once in each form (single-gzip, the Go system's format, and chunked).

import { type Registry, startRegistry } from "../tests/harness/registry.ts";
import { makeRunDir, releaseRunDir } from "../tests/harness/run_dir.ts";
import { RegistryClient } from "../src/image/registry/client.ts";
import { parseReference } from "../src/image/registry/reference.ts";
import { pushImage } from "../src/image/push/push.ts";
import type { Descriptor } from "../src/image/format/manifest.ts";

const MiB = 1 << 20;

export interface ImageBenchWorld {
  dir: string;
  registry: Registry;
  disk: string;
  aux: string;
  /** Uncompressed size of the disk. */
  bytes: number;
  /** The single-gzip disk layer, for the curl pipeline. */
  diskLayer: Descriptor;
  close(): Promise<void>;
}

export async function makeDisk(path: string, bytes: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.truncate(bytes);
  const text = new TextEncoder().encode(
    "kernel: usb 1-1: new high-speed USB device number 2 using xhci_hcd\n".repeat(16_000),
  ).subarray(0, MiB);
  const random = new Uint8Array(MiB);
  for (let i = 0; i < bytes / MiB; i++) {
    const kind = i % 20;
    if (kind < 12) continue; // zeros: left as a hole
    let block: Uint8Array;
    if (kind < 17) block = text;
    else {
      for (let j = 0; j < MiB; j += 65536) crypto.getRandomValues(random.subarray(j, j + 65536));
      block = random;
    }
    await file.seek(i * MiB, Deno.SeekMode.Start);
    await file.write(block);
  }
  file.close();
}

export const DARWIN = { hardwareModelData: btoa("hw"), machineIdData: btoa("id") };

export async function imageBenchWorld(gib: number): Promise<ImageBenchWorld> {
  const bytes = Math.round(gib * 1024) * MiB;
  const dir = await makeRunDir("vzk-bench-image-");
  const registry = await startRegistry({ dir: `${dir}/registry` });
  try {
    console.error(`image bench: writing a ${gib} GiB synthetic disk`);
    const disk = `${dir}/disk.img`;
    const aux = `${dir}/aux.img`;
    await makeDisk(disk, bytes);
    await Deno.writeFile(aux, new Uint8Array(MiB));
    const client = new RegistryClient();
    const inputs = { os: "darwin" as const, files: { disk, aux }, darwin: DARWIN };
    console.error("image bench: pushing both forms");
    const single = await pushImage(
      client,
      parseReference(`${registry.host}/bench/vm:single`),
      inputs,
      { tmpDir: `${dir}/tmp` },
    );
    await pushImage(client, parseReference(`${registry.host}/bench/vm:chunked`), inputs, {
      tmpDir: `${dir}/tmp`,
      chunked: true,
    });
    client.close();
    const diskLayer = single.manifest.layers.find((l) =>
      l.annotations?.["org.opencontainers.image.title"] === "disk.img"
    )!;
    return {
      dir,
      registry,
      disk,
      aux,
      bytes,
      diskLayer,
      close: async () => {
        await registry.stop();
        await releaseRunDir(dir);
      },
    };
  } catch (err) {
    await registry.stop();
    await releaseRunDir(dir);
    throw err;
  }
}
