// hostPath volumes: the path on this host, checked against the volume's `type` the way the
// kubelet checks it (DirectoryOrCreate and FileOrCreate make what is missing), with an error
// naming the path, what it is and what the type wants.

import type * as k8s from "@kubernetes/client-node";
import { posix } from "node:path";
import { VolumeError } from "./payload.ts";

async function statOf(path: string): Promise<Deno.FileInfo | undefined> {
  return await Deno.stat(path).catch(() => undefined);
}

function what(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a file";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "something else";
}

/** Checks (or makes) the host path of `v`; returns it. */
export async function setUpHostPath(v: k8s.V1Volume): Promise<string> {
  const path = v.hostPath!.path;
  const type = v.hostPath!.type ?? "";
  const fail = (why: string) => {
    throw new VolumeError(v.name, `hostPath type check failed: ${path} ${why}`);
  };
  if (!path.startsWith("/")) fail("is not an absolute path");
  let info = await statOf(path);
  if (type === "DirectoryOrCreate" && !info) {
    await Deno.mkdir(path, { recursive: true, mode: 0o755 });
    info = await statOf(path);
  }
  if (type === "FileOrCreate" && !info) {
    if (!(await statOf(posix.dirname(path)))?.isDirectory) {
      fail("cannot be created: no parent directory");
    }
    await Deno.writeFile(path, new Uint8Array(), { mode: 0o644 });
    info = await statOf(path);
  }
  const want: Record<string, [(i: Deno.FileInfo) => boolean, string]> = {
    Directory: [(i) => i.isDirectory, "a directory"],
    DirectoryOrCreate: [(i) => i.isDirectory, "a directory"],
    File: [(i) => i.isFile, "a file"],
    FileOrCreate: [(i) => i.isFile, "a file"],
    Socket: [(i) => !!i.isSocket, "a socket"],
    CharDevice: [(i) => !!i.isCharDevice, "a character device"],
    BlockDevice: [(i) => !!i.isBlockDevice, "a block device"],
  };
  if (type === "") return path; // no checks, as with the kubelet
  const check = want[type];
  if (!check) fail(`has an unknown type "${type}"`);
  if (!info) fail(`does not exist (type ${type} wants ${check[1]})`);
  if (!check[0](info!)) fail(`is ${what(info!)}, not ${check[1]} (type ${type})`);
  return path;
}
