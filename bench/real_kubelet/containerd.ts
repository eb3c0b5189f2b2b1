// A containerd of the benchmark's own (Debian's containerd 1.6 with its CRI plugin, runc, the
// native snapshotter, no CNI: the pod uses the host network) in a scratch directory, with its
// own socket, root, state and streaming server, beside whatever containerd the host runs.
// Images come from OCI archives (`ctr images import`). stop() kills and deletes every task (so
// runc removes their cgroups), ends the containerd, then whatever is left of it: shims (found by
// its socket on their command line), processes in its containers' cgroups, the cgroups, mounts.

import { type Child, spawnLogged, tailLog } from "../../tests/harness/process.ts";

export interface Containerd {
  socket: string;
  /** `ctr` against this containerd, in the k8s.io namespace the CRI plugin uses. */
  ctr(args: string[]): Promise<string>;
  importImage(archive: string): Promise<void>;
  stop(): Promise<void>;
}

function config(dir: string, sandboxImage: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.overlayfs"]

[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # This host refuses to lower oom_score_adj (the kubelet asks -998 for sandboxes).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/net.d"
`;
}

/** Mount points at or under `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mounts");
  return text.split("\n").map((l) => l.split(" ")[1]?.replace(/\\040/g, " ")).filter((m) =>
    m !== undefined && (m === dir || m.startsWith(`${dir}/`))
  ).sort((a, b) => b.length - a.length);
}

export async function unmountAll(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir)) {
    await new Deno.Command("umount", { args: ["-l", m], stderr: "null" }).output();
  }
}

const CGROUPS = "/sys/fs/cgroup";

/** Processes still in container `id`'s cgroups are killed, then the cgroups removed. */
async function removeCgroups(id: string): Promise<void> {
  const dirs: string[] = [];
  for (const c of await Array.fromAsync(Deno.readDir(CGROUPS)).catch(() => [])) {
    const d = `${CGROUPS}/${c.name}/k8s.io/${id}`;
    if (await Deno.stat(d).then(() => true, () => false)) dirs.push(d);
  }
  for (const d of dirs) {
    const procs = await Deno.readTextFile(`${d}/cgroup.procs`).catch(() => "");
    for (const pid of procs.split("\n").filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const d of dirs) await Deno.remove(d).catch(() => {});
}

/** PIDs of processes whose command line names `needle` (the shims of our containerd). */
async function pidsNaming(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes(needle) && !cmd.includes("containerd.toml")) pids.push(Number(e.name));
  }
  return pids;
}

export async function startContainerd(dir: string, sandboxImage: string): Promise<Containerd> {
  await Deno.mkdir(`${dir}/cni/net.d`, { recursive: true });
  await Deno.mkdir(`${dir}/cni/bin`, { recursive: true });
  await Deno.writeTextFile(`${dir}/containerd.toml`, config(dir, sandboxImage));
  const socket = `${dir}/containerd.sock`;
  const child: Child = await spawnLogged({
    name: "containerd",
    command: "containerd",
    args: ["--config", `${dir}/containerd.toml`, "--log-level", "warn"],
    logPath: `${dir}/containerd.log`,
  });
  const ctr = async (args: string[]) => {
    const out = await new Deno.Command("ctr", {
      args: ["--address", socket, "--namespace", "k8s.io", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(`ctr ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return text;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.hasExited()) {
      throw new Error(`containerd exited: ${await tailLog(`${dir}/containerd.log`)}`);
    }
    if (await ctr(["version"]).then(() => true, () => false)) break;
    if (Date.now() > deadline) throw new Error("containerd did not answer within 30 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    socket,
    ctr,
    async importImage(archive) {
      await ctr(["images", "import", "--snapshotter", "native", archive]);
    },
    async stop() {
      const ids = (await ctr(["containers", "ls", "-q"]).catch(() => "")).split("\n")
        .filter(Boolean);
      for (const id of ids) {
        await ctr(["tasks", "kill", "-s", "SIGKILL", id]).catch(() => {});
        await ctr(["tasks", "delete", "-f", id]).catch(() => {});
        await ctr(["containers", "delete", id]).catch(() => {});
      }
      await child.stop(5_000);
      for (const pid of await pidsNaming(socket)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      for (const id of ids) await removeCgroups(id);
      for (const c of await Array.fromAsync(Deno.readDir(CGROUPS)).catch(() => [])) {
        await Deno.remove(`${CGROUPS}/${c.name}/k8s.io`).catch(() => {}); // only when empty
      }
      await unmountAll(dir);
    },
  };
}
