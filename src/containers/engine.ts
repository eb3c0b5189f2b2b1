// The Docker engine operations the pod runtime uses, over dockerode: images (present, pull
// with registry auth and progress), containers (create, start, wait, stop, remove, find by
// name or labels, address), and their I/O (logs, exec, attach, stats) as web streams with
// backpressure. Knows nothing of pods: the runtime's Docker driver maps pods onto this.

// @deno-types="@types/dockerode"
import type Docker from "dockerode";
// @deno-types="@types/dockerode"
import type { ContainerCreateOptions, ContainerInspectInfo } from "dockerode";
import type { Duplex } from "node:stream";
import { dockerClient } from "./docker.ts";
import { Demuxer } from "./demux.ts";
import { LABEL_NODE } from "./names.ts";

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
  identitytoken?: string;
}

export interface ContainerExitInfo {
  exitCode: number;
  oomKilled: boolean;
  error?: string;
  startedAt?: Date;
  finishedAt?: Date;
}

export interface EngineIO {
  stdin?: ReadableStream<Uint8Array>;
  stdout?: WritableStream<Uint8Array>;
  stderr?: WritableStream<Uint8Array>;
  tty: boolean;
  resize?: ReadableStream<{ width: number; height: number }>;
  signal?: AbortSignal;
}

export interface EngineLogOptions {
  follow: boolean;
  timestamps: boolean;
  tail?: number;
  /** Unix seconds. */
  since?: number;
  signal?: AbortSignal;
}

export interface ManagedContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);
const statusOf = (err: unknown) => (err as { statusCode?: number }).statusCode;

/** A Docker error's message without dockerode's "(HTTP code 404) no such container -" noise. */
export function dockerMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; reason?: string };
  return e.json?.message ?? errText(err);
}

const dateOf = (s?: string) => !s || s.startsWith("0001-") ? undefined : new Date(s);

export function exitInfoOf(info: ContainerInspectInfo): ContainerExitInfo {
  return {
    exitCode: info.State.ExitCode,
    oomKilled: info.State.OOMKilled,
    error: info.State.Error || undefined,
    startedAt: dateOf(info.State.StartedAt),
    finishedAt: dateOf(info.State.FinishedAt),
  };
}

/** Writes Docker output to the caller's streams, demultiplexed unless it is a tty stream. */
async function pump(
  source: AsyncIterable<Uint8Array>,
  tty: boolean,
  stdout: WritableStreamDefaultWriter<Uint8Array> | undefined,
  stderr: WritableStreamDefaultWriter<Uint8Array> | undefined,
): Promise<void> {
  const demux = new Demuxer();
  for await (const chunk of source) {
    if (tty) {
      await stdout?.write(new Uint8Array(chunk));
      continue;
    }
    for (const f of demux.push(new Uint8Array(chunk))) {
      await (f.stream === "stdout" ? stdout : stderr ?? stdout)?.write(f.data);
    }
  }
}

/** Feeds `input` into a hijacked connection, then half-closes it (the process sees EOF). */
async function feed(socket: Duplex, input: ReadableStream<Uint8Array> | undefined): Promise<void> {
  if (input) {
    for await (const chunk of input) {
      if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
    }
  }
  socket.end();
}

export class DockerEngine {
  #docker?: Promise<Docker>;

  constructor(readonly host: string) {}

  #client(): Promise<Docker> {
    return this.#docker ??= dockerClient(this.host);
  }

  /** The image's digest reference (repo@sha256:…), or its ID; undefined when absent. */
  async imageID(ref: string): Promise<string | undefined> {
    const docker = await this.#client();
    try {
      const info = await docker.getImage(ref).inspect();
      return info.RepoDigests?.[0] ?? info.Id;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new Error(`docker: inspect image ${ref}: ${dockerMessage(err)}`);
    }
  }

  /** Pulls `ref`; progress as short lines ("Downloading 3.1/10.0 MB"). */
  async pull(
    ref: string,
    auth: RegistryAuth | undefined,
    onProgress?: (line: string) => void,
  ): Promise<void> {
    const docker = await this.#client();
    let stream: NodeJS.ReadableStream;
    try {
      stream = await docker.pull(ref, auth ? { authconfig: auth } : {});
    } catch (err) {
      throw new Error(`pull ${ref}: ${dockerMessage(err)}`);
    }
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (err: Error | null, events: { error?: string }[]) => {
          const failed = err?.message ?? events?.find((e) => e.error)?.error;
          if (failed) reject(new Error(`pull ${ref}: ${failed}`));
          else resolve();
        },
        (e: { status?: string; progressDetail?: { current?: number; total?: number } }) => {
          const d = e.progressDetail;
          const mb = (n: number) => (n / 1e6).toFixed(1);
          if (e.status && d?.total) {
            onProgress?.(`${e.status} ${mb(d.current ?? 0)}/${mb(d.total)} MB`);
          }
        },
      );
    });
  }

  async create(opts: ContainerCreateOptions): Promise<string> {
    const docker = await this.#client();
    try {
      return (await docker.createContainer(opts)).id;
    } catch (err) {
      throw new Error(`docker: create ${opts.name}: ${dockerMessage(err)}`);
    }
  }

  async start(id: string): Promise<void> {
    const docker = await this.#client();
    try {
      await docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return; // already running
      throw new Error(`docker: start ${id.slice(0, 12)}: ${dockerMessage(err)}`);
    }
  }

  async inspect(idOrName: string): Promise<ContainerInspectInfo | undefined> {
    const docker = await this.#client();
    try {
      return await docker.getContainer(idOrName).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new Error(`docker: inspect ${idOrName}: ${dockerMessage(err)}`);
    }
  }

  /** Resolves once the container is not running (at once if it is not), with how it ended. */
  async wait(id: string): Promise<ContainerExitInfo> {
    const docker = await this.#client();
    for (let attempt = 0;; attempt++) {
      try {
        await docker.getContainer(id).wait({ condition: "not-running" });
        break;
      } catch (err) {
        if (statusOf(err) === 404) {
          return { exitCode: 137, oomKilled: false, error: "container removed" };
        }
        // The engine went away or the connection dropped: look again shortly.
        if (attempt > 1000) throw err;
        await new Promise((r) => setTimeout(r, 1_000));
        const info = await this.inspect(id).catch(() => undefined);
        if (info && !info.State.Running) break;
      }
    }
    const info = await this.inspect(id);
    return info
      ? exitInfoOf(info)
      : { exitCode: 137, oomKilled: false, error: "container removed" };
  }

  /** SIGTERM, then SIGKILL after `seconds` (docker stop). */
  async stop(id: string, seconds: number): Promise<void> {
    const docker = await this.#client();
    try {
      await docker.getContainer(id).stop({ t: Math.max(0, Math.floor(seconds)) });
    } catch (err) {
      const code = statusOf(err);
      if (code === 304 || code === 404) return;
      throw new Error(`docker: stop ${id.slice(0, 12)}: ${dockerMessage(err)}`);
    }
  }

  async remove(id: string): Promise<void> {
    const docker = await this.#client();
    try {
      await docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      // "removal already in progress" is as good as done.
      if (statusOf(err) === 409 && /in progress/.test(dockerMessage(err))) return;
      throw new Error(`docker: remove ${id.slice(0, 12)}: ${dockerMessage(err)}`);
    }
  }

  /** Containers this node's agent made (label io.macos-vz.node=<node>). */
  async managed(nodeName: string): Promise<ManagedContainer[]> {
    const docker = await this.#client();
    const list = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_NODE}=${nodeName}`] },
    });
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names?.[0] ?? "").replace(/^\//, ""),
      labels: c.Labels ?? {},
      running: c.State === "running",
    }));
  }

  /**
   * Where containers on `network` reach this host, and the address to name in their
   * /etc/hosts for it: the network's gateway, or (Docker Desktop, whose containers live in a
   * VM of their own) Docker's `host-gateway`, which leads to this host's loopback.
   */
  async hostAccess(network: string): Promise<{ listen: string; extraHost: string } | undefined> {
    const docker = await this.#client();
    const info = await docker.info().catch(() => undefined);
    if (/Docker Desktop/i.test(String(info?.OperatingSystem ?? ""))) {
      return { listen: "127.0.0.1", extraHost: "host-gateway" };
    }
    const net = await docker.getNetwork(network).inspect().catch(() => undefined);
    const configs: { Gateway?: string; Subnet?: string }[] = net?.IPAM?.Config ?? [];
    // Docker leaves Gateway out when the network was made with --subnet alone; the gateway
    // is then the subnet's first address, which is what the bridge is given.
    const ipv4 = configs.find((c) => /^\d+\.\d+\.\d+\.\d+/.test(c.Subnet ?? c.Gateway ?? ""));
    const gateway = ipv4?.Gateway ?? firstHost(ipv4?.Subnet);
    return gateway ? { listen: gateway, extraHost: gateway } : undefined;
  }

  /** The container's address on `network`. */
  async address(id: string, network: string): Promise<string | undefined> {
    const info = await this.inspect(id);
    const nets = info?.NetworkSettings?.Networks ?? {};
    return nets[network]?.IPAddress || Object.values(nets).find((n) => n.IPAddress)?.IPAddress ||
      undefined;
  }

  /** The container's log (stdout and stderr interleaved) as bytes. */
  async logs(
    id: string,
    tty: boolean,
    opts: EngineLogOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    const docker = await this.#client();
    const c = docker.getContainer(id);
    const base = {
      stdout: true,
      stderr: true,
      timestamps: opts.timestamps,
      tail: opts.tail,
      since: opts.since ?? 0,
    };
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const out = writable.getWriter();
    let source: AsyncIterable<Uint8Array>;
    let destroy = () => {};
    if (opts.follow) {
      const stream = await c.logs({ ...base, follow: true }) as unknown as Duplex;
      source = stream as AsyncIterable<Uint8Array>;
      destroy = () => stream.destroy();
    } else {
      const buf = await c.logs({ ...base, follow: false }) as unknown as Uint8Array;
      source = (async function* () {
        yield buf;
      })();
    }
    opts.signal?.addEventListener("abort", destroy, { once: true });
    pump(source, tty, out, out).catch(() => {}).finally(() => {
      opts.signal?.removeEventListener("abort", destroy);
      out.close().catch(() => {});
    });
    return readable;
  }

  /** Runs `cmd` in the container; resolves with its exit code. */
  async exec(id: string, cmd: string[], io: EngineIO, env?: string[]): Promise<number> {
    const docker = await this.#client();
    const exec = await docker.getContainer(id).exec({
      Cmd: cmd,
      AttachStdin: !!io.stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: io.tty,
      Env: env,
    }).catch((err) => {
      throw new Error(`docker: exec in ${id.slice(0, 12)}: ${dockerMessage(err)}`);
    });
    const socket = await exec.start({ hijack: true, stdin: !!io.stdin, Tty: io.tty }) as Duplex;
    const resizing = io.tty && io.resize
      ? (async () => {
        for await (const s of io.resize!) {
          await exec.resize({ h: s.height, w: s.width }).catch(
            () => {},
          );
        }
      })().catch(() => {})
      : undefined;
    await this.#session(socket, io);
    void resizing;
    for (let i = 0; i < 50; i++) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 255;
  }

  /** Connects `io` to the container's main process (its stdin, stdout and stderr). */
  async attach(id: string, io: EngineIO): Promise<void> {
    const docker = await this.#client();
    const c = docker.getContainer(id);
    const socket = await c.attach({
      stream: true,
      stdin: !!io.stdin,
      stdout: true,
      stderr: true,
      hijack: true,
    }) as unknown as Duplex;
    const resizing = io.tty && io.resize
      ? (async () => {
        for await (const s of io.resize!) {
          await c.resize({ h: s.height, w: s.width }).catch(() => {});
        }
      })().catch(() => {})
      : undefined;
    await this.#session(socket, io);
    void resizing;
  }

  /** Pipes a hijacked connection to `io` until its output ends or the caller goes away. */
  async #session(socket: Duplex, io: EngineIO): Promise<void> {
    const stdout = io.stdout?.getWriter();
    const stderr = io.stderr?.getWriter();
    const abort = () => socket.destroy();
    io.signal?.addEventListener("abort", abort, { once: true });
    try {
      if (io.stdin) feed(socket, io.stdin).catch(() => socket.end());
      await pump(socket as AsyncIterable<Uint8Array>, io.tty, stdout, stderr).catch(() => {});
    } finally {
      io.signal?.removeEventListener("abort", abort);
      stdout?.releaseLock();
      stderr?.releaseLock();
    }
  }

  /** One usage sample: cumulative CPU (ns), memory in use and working set (bytes). */
  async stats(id: string): Promise<
    | {
      cpuNanoSeconds: number;
      memoryUsageBytes: number;
      workingSetBytes: number;
      rssBytes?: number;
    }
    | undefined
  > {
    const docker = await this.#client();
    try {
      const s = await docker.getContainer(id).stats({ stream: false });
      const usage = s.memory_stats?.usage ?? 0;
      const st = (s.memory_stats?.stats ?? {}) as Record<string, number>;
      const inactive = st.total_inactive_file ?? st.inactive_file ?? 0;
      return {
        cpuNanoSeconds: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
        memoryUsageBytes: usage,
        workingSetBytes: Math.max(0, usage - inactive),
        rssBytes: st.total_rss ?? st.rss,
      };
    } catch {
      return undefined;
    }
  }
}

/** The first host address of an IPv4 subnet ("10.1.2.0/24" -> "10.1.2.1"). */
export function firstHost(subnet: string | undefined): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet ?? "");
  if (!m) return undefined;
  const bits = Number(m[5]);
  const addr = m.slice(1, 5).reduce((n, o) => n * 256 + Number(o), 0);
  const base = bits === 0 ? 0 : Math.floor(addr / 2 ** (32 - bits)) * 2 ** (32 - bits);
  const host = base + 1;
  return [24, 16, 8, 0].map((s) => Math.floor(host / 2 ** s) % 256).join(".");
}
