// A Docker engine for tests: Debian's docker.io dockerd with its own socket, data root and
// exec root under the run directory (--iptables=false --storage-driver=vfs, as this sandbox
// needs), one user-defined bridge network for the pods' containers, and test images made
// without any image hub: `docker import` of a rootfs built from Debian's busybox-static,
// pushed to the test registry so pods pull it by reference like any other image. It carries
// curl (with its libraries) so tests can call the API server from a container.

import { addShutdownHook, type Child, failOnExit, spawnLogged, tailLog } from "./process.ts";
import { waitFor } from "./api_client.ts";
import { posix } from "node:path";

export interface DockerEngine {
  /** unix:///…/docker.sock: the DOCKER_HOST of this engine. */
  host: string;
  /** A user-defined bridge network for pod containers (the agent's --docker-network). */
  network: string;
  /** Its Linux bridge and subnet. */
  bridge: string;
  subnet: string;
  pid: number;
  /** Runs the docker CLI against this engine. */
  docker(
    args: string[],
    stdin?: Uint8Array,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Removes every container, stops dockerd and its network. Idempotent. */
  stop(): Promise<void>;
}

function findBinary(names: string[]): string {
  for (const name of names) {
    for (const dir of ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/sbin", "/bin"]) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch {
        // not here
      }
    }
  }
  throw new Error(`${names[0]} not found; install the Debian package docker.io`);
}

const hex4 = () => Math.floor(Math.random() * 0xffff).toString(16).padStart(4, "0");

export async function startDocker(opts: { dir: string }): Promise<DockerEngine> {
  const dockerd = findBinary(["dockerd"]);
  const cli = findBinary(["docker"]);
  await Deno.mkdir(opts.dir, { recursive: true });
  const sock = `${opts.dir}/docker.sock`;
  const host = `unix://${sock}`;
  const child: Child = await spawnLogged({
    name: "dockerd",
    command: dockerd,
    args: [
      `--host=${host}`,
      `--data-root=${opts.dir}/data`,
      `--exec-root=${opts.dir}/exec`,
      `--pidfile=${opts.dir}/dockerd.pid`,
      "--iptables=false",
      "--ip6tables=false",
      "--storage-driver=vfs",
      "--bridge=none",
      "--log-level=warn",
    ],
    logPath: `${opts.dir}/dockerd.log`,
    newSession: true,
  });
  const docker = async (args: string[], stdin?: Uint8Array) => {
    const proc = new Deno.Command(cli, {
      args,
      env: { DOCKER_HOST: host, DOCKER_CONFIG: `${opts.dir}/client` },
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin) {
      const w = proc.stdin.getWriter();
      await w.write(stdin);
      await w.close();
    }
    const out = await proc.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  const died = failOnExit([child]);
  try {
    await Promise.race([
      died.promise,
      waitFor("dockerd", async () => (await docker(["version"])).code === 0, 30_000, 200),
    ]);
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}\n${await tailLog(child.logPath)}`);
  } finally {
    died.cancel();
  }
  const bridge = `vzkd${hex4()}`;
  const subnet = `10.252.${Math.floor(Math.random() * 250) + 1}.0/24`;
  const network = `vzk-test-${hex4()}`;
  const made = await docker([
    "network",
    "create",
    "--driver=bridge",
    `--subnet=${subnet}`,
    "-o",
    `com.docker.network.bridge.name=${bridge}`,
    network,
  ]);
  if (made.code !== 0) {
    await child.stop();
    throw new Error(`docker network create: ${made.stderr.trim()}`);
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      const ids = (await docker(["ps", "-aq"])).stdout.split(/\s+/).filter(Boolean);
      if (ids.length) await docker(["rm", "-f", ...ids]);
      await docker(["network", "rm", network]);
      await child.stop(10_000);
      removeHook();
    })();
  const removeHook = addShutdownHook(stop);
  return { host, network, bridge, subnet, pid: child.pid, docker, stop };
}

/** A root file system with busybox-static: every applet, /etc/passwd with root and nobody. */
export async function busyboxRootfs(dir: string): Promise<string> {
  const root = `${dir}/rootfs`;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  for (const d of ["bin", "etc", "tmp", "root", "www"]) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.copyFile(findBinary(["busybox"]), `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  const list = await new Deno.Command(`${root}/bin/busybox`, { args: ["--list"], stdout: "piped" })
    .output();
  for (const applet of new TextDecoder().decode(list.stdout).split("\n").filter(Boolean)) {
    if (applet !== "busybox") await Deno.symlink("busybox", `${root}/bin/${applet}`);
  }
  await Deno.writeTextFile(
    `${root}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
  );
  await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\nnogroup:x:65534:\n");
  await Deno.writeTextFile(`${root}/www/index.html`, "hello from the sidecar\n");
  // curl with the libraries it links, so containers can call the API server over TLS.
  const ldd = await new Deno.Command("ldd", { args: ["/usr/bin/curl"], stdout: "piped" }).output();
  const libs = new TextDecoder().decode(ldd.stdout).match(/\/[^ ]+/g) ?? [];
  for (const path of ["/usr/bin/curl", ...new Set(libs)]) {
    await Deno.mkdir(`${root}${posix.dirname(path)}`, { recursive: true });
    await Deno.copyFile(path, `${root}${path}`);
  }
  return root;
}

/**
 * Makes the busybox test image in `engine` and pushes it to `registryHost` (plain HTTP on
 * loopback, which dockerd accepts without configuration). Returns its reference.
 */
export async function pushBusyboxImage(
  engine: DockerEngine,
  registryHost: string,
  dir: string,
  ref = `${registryHost}/vzk-test/busybox:1`,
): Promise<string> {
  const root = await busyboxRootfs(dir);
  const tar = await new Deno.Command("tar", { args: ["-C", root, "-c", "."], stdout: "piped" })
    .output();
  if (!tar.success) throw new Error("tar of the busybox rootfs failed");
  const imported = await engine.docker(
    ["import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV PATH=/bin:/usr/bin", "-", ref],
    tar.stdout,
  );
  if (imported.code !== 0) throw new Error(`docker import: ${imported.stderr.trim()}`);
  const pushed = await engine.docker(["push", ref]);
  if (pushed.code !== 0) throw new Error(`docker push ${ref}: ${pushed.stderr.trim()}`);
  // Pods must pull it: remove the local copy so the first pod's pull really happens.
  await engine.docker(["rmi", ref]);
  return ref;
}
