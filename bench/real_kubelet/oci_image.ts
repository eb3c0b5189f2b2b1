// A one-layer OCI image archive made from a root file system directory, for containerd's
// `ctr images import` (no registry, no image hub): the layer is `tar` of the directory, the
// image is named by the io.containerd.image.name annotation. The real-kubelet baseline's
// busybox image and its pod sandbox ("pause") image are made this way.

import { createHash } from "node:crypto";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function tarOf(dir: string): Promise<Uint8Array> {
  const out = await new Deno.Command("tar", {
    args: ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-c", "."],
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error(`tar of ${dir} failed`);
  return out.stdout;
}

export interface ImageSpec {
  /** Full reference, e.g. docker.io/library/bench-busybox:1 */
  name: string;
  rootfs: string;
  cmd: string[];
}

/** Writes `<dir>/<basename>.tar`, an OCI image layout archive of `spec`; returns its path. */
export async function ociArchive(spec: ImageSpec, dir: string, basename: string): Promise<string> {
  const layout = `${dir}/${basename}-layout`;
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const blob = async (bytes: Uint8Array) => {
    const digest = sha256(bytes);
    await Deno.writeFile(`${layout}/blobs/sha256/${digest}`, bytes);
    return { digest: `sha256:${digest}`, size: bytes.byteLength };
  };
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const layer = await blob(await tarOf(spec.rootfs));
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  const config = await blob(json({
    architecture: arch,
    os: "linux",
    config: { Cmd: spec.cmd, Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: [layer.digest] },
  }));
  const manifest = await blob(json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
  }));
  await Deno.writeFile(
    `${layout}/index.json`,
    json({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        platform: { architecture: arch, os: "linux" },
        annotations: {
          "io.containerd.image.name": spec.name,
          "org.opencontainers.image.ref.name": spec.name.split(":").pop(),
        },
      }],
    }),
  );
  await Deno.writeTextFile(`${layout}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  const archive = `${dir}/${basename}.tar`;
  await Deno.writeFile(archive, await tarOf(layout));
  return archive;
}
