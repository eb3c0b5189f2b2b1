// A Docker container of a pod (init containers and sidecars beside the VM): one run is one
// Docker container named macos-vz_<ns>_<pod>_<name>. A start adopts a running container left
// by an earlier agent, or pulls per imagePullPolicy with the pod's pull secrets, resolves the
// environment (waiting for the VM's IP when the env asks for status.podIP), creates and
// starts. An ended container is kept for `kubectl logs` until the next run replaces it; its
// log is then saved as the previous run's.

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../telemetry/log.ts";
import type { DockerEngine, RegistryAuth } from "../containers/engine.ts";
import { type ContainerIdentity, containerName, isContainer } from "../containers/names.ts";
import { dockerCreateOptions } from "../containers/spec.ts";
import { type ContainerDriver, type ContainerExit, type RunContext, StartError } from "./driver.ts";
import { type EnvContext, needsPodIP, resolveEnv } from "./env.ts";
import { pullPolicyOf } from "./images.ts";
import { filterTimestamped, limitBytes, sinceOf } from "./log_lines.ts";
import { NotFoundError } from "./types.ts";

export interface DockerDriverDeps {
  engine: DockerEngine;
  nodeName: string;
  /** Docker network the pod's containers join. */
  network: string;
  log: Logger;
  /** Registry credentials for `image` from the pod's pull secrets, if any. */
  auth(pod: k8s.V1Pod, image: string): Promise<RegistryAuth | undefined>;
  /** What env resolution needs beyond the pod: node facts, the API reader. */
  env: Omit<EnvContext, "pod" | "container" | "field" | "podIP">;
  /** Resolves with the pod's IP (the VM's) once it has one. */
  podIP(signal: AbortSignal): Promise<string>;
  /** Where previous runs' logs are kept: <podDir>/logs. */
  logDir: string;
  /** The container's volumes as bind mounts (the pod's volumes are set up by then). */
  binds(): Promise<string[]>;
  /** How the container reaches the API server (its env and /etc/hosts), when it can. */
  apiAccess?(): Promise<{ env: [string, string][]; extraHosts: string[] } | undefined>;
}

const errText = (err: unknown) => err instanceof Error ? err.message : String(err);

function exitOf(info: { exitCode: number; oomKilled: boolean; error?: string }): ContainerExit {
  return {
    exitCode: info.exitCode,
    reason: info.oomKilled ? "OOMKilled" : info.exitCode === 0 ? "Completed" : "Error",
    message: info.error,
    finishedAt: new Date(),
  };
}

export function createDockerDriver(
  pod: () => k8s.V1Pod,
  container: () => k8s.V1Container,
  field: string,
  deps: DockerDriverDeps,
): ContainerDriver {
  const { engine } = deps;
  const name = container().name;
  const identity = (): ContainerIdentity => {
    const m = pod().metadata!;
    return {
      nodeName: deps.nodeName,
      namespace: m.namespace!,
      pod: m.name!,
      podUid: m.uid!,
      container: name,
    };
  };
  const previousLog = `${deps.logDir}/${name}.previous.log`;
  /** The current (or last, ended) run's container. */
  let id: string | undefined;
  let running = false;
  let cpu: { ns: number; at: number } | undefined;

  /** Keeps the log of an ended container as the previous run's, then removes it. */
  async function retire(cid: string): Promise<void> {
    try {
      const stream = await engine.logs(cid, !!container().tty, { follow: false, timestamps: true });
      const text = await new Response(stream).text();
      await Deno.mkdir(deps.logDir, { recursive: true });
      await Deno.writeTextFile(previousLog, text);
    } catch (err) {
      deps.log.warn("cannot keep the previous run's log", { container: name, error: errText(err) });
    }
    await engine.remove(cid);
  }

  async function ensureImage(ctx: RunContext): Promise<string> {
    const c = container();
    const image = c.image!;
    const policy = pullPolicyOf(c);
    const present = await engine.imageID(image);
    if (policy === "Never" || (policy === "IfNotPresent" && present)) {
      if (!present) {
        throw new StartError(
          "ErrImageNeverPull",
          `container image "${image}" is not present with pull policy of Never`,
        );
      }
      ctx.event("Normal", "Pulled", `Container image "${image}" already present on machine`);
      return present;
    }
    ctx.waiting("ContainerCreating", `pulling image ${image}`);
    ctx.event("Normal", "Pulling", `Pulling image "${image}"`);
    const t0 = Date.now();
    let lastReport = 0;
    try {
      await engine.pull(image, await deps.auth(pod(), image), (line) => {
        if (Date.now() - lastReport < 2_000) return;
        lastReport = Date.now();
        ctx.waiting("ContainerCreating", `pulling image ${image}: ${line}`);
      });
    } catch (err) {
      // A reference that does not parse never will: the container waits, nothing retries.
      const invalid = /invalid reference format/.test(errText(err));
      throw new StartError(invalid ? "InvalidImageName" : "ErrImagePull", errText(err));
    }
    const pulled = await engine.imageID(image);
    if (!pulled) {
      throw new StartError("ErrImagePull", `pull ${image}: image not present afterwards`);
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    ctx.event("Normal", "Pulled", `Successfully pulled image "${image}" in ${secs}s`);
    return pulled;
  }

  return {
    name,

    async start(ctx) {
      const { signal } = ctx;
      const cname = containerName(identity());
      const found = await engine.inspect(cname);
      if (found && isContainer(found.Config.Labels, identity()) && found.State.Running) {
        // Left running by an earlier agent: adopt it.
        id = found.Id;
        running = true;
        ctx.imagePresent(found.Image);
        ctx.running(`docker://${id}`, new Date(found.State.StartedAt));
        return { adopted: true, exited: engine.wait(found.Id).then(exitOf) };
      }
      if (found) await retire(found.Id);
      id = undefined;

      const imageID = await ensureImage(ctx);
      signal.throwIfAborted();
      ctx.imagePresent(imageID);
      let podIP: string | undefined;
      if (needsPodIP(container())) {
        ctx.waiting("ContainerCreating", "waiting for the pod's IP address (the VM's)");
        podIP = await deps.podIP(signal);
      }
      const api = await deps.apiAccess?.();
      const env = await resolveEnv({
        ...deps.env,
        pod: pod(),
        container: container(),
        field,
        podIP,
        base: api?.env,
      });
      signal.throwIfAborted();
      const opts = dockerCreateOptions({
        id: identity(),
        pod: pod(),
        container: container(),
        image: container().image!,
        env,
        network: deps.network,
        binds: await deps.binds(),
        extraHosts: api?.extraHosts,
      });
      try {
        id = await engine.create(opts);
      } catch (err) {
        throw new StartError("CreateContainerError", errText(err));
      }
      ctx.event("Normal", "Created", `Created container ${name}`);
      try {
        await engine.start(id);
      } catch (err) {
        throw new StartError("StartError", errText(err));
      }
      running = true;
      ctx.event("Normal", "Started", `Started container ${name}`);
      const info = await engine.inspect(id);
      ctx.running(`docker://${id}`, info ? new Date(info.State.StartedAt) : new Date());
      const current = id;
      return {
        adopted: false,
        exited: engine.wait(current).then((e) => {
          if (id === current) running = false;
          return exitOf(e);
        }),
      };
    },

    async stop(graceMs) {
      if (id) await engine.stop(id, graceMs / 1000);
    },

    async release() {
      running = false;
      cpu = undefined;
      if (!id) return;
      // A container still up (its start failed half way) goes; an ended one stays for its logs.
      const info = await engine.inspect(id);
      if (info?.State.Running) {
        await engine.remove(id);
        id = undefined;
      }
    },

    async remove() {
      running = false;
      const cname = containerName(identity());
      for (const target of [id, cname]) if (target) await engine.remove(target);
      id = undefined;
      await Deno.remove(previousLog).catch(() => {});
    },

    detach() {
      id = undefined;
    },

    async logs(opts) {
      if (opts.previous) {
        const text = await Deno.readTextFile(previousLog).catch(() => undefined);
        if (text === undefined) {
          throw new NotFoundError(`previous terminated container "${name}" in pod`);
        }
        const bytes = filterTimestamped(text, opts);
        return new ReadableStream({
          start(c) {
            if (bytes.length) c.enqueue(bytes);
            c.close();
          },
        });
      }
      const target = id ?? (await engine.inspect(containerName(identity())))?.Id;
      if (!target) throw new NotFoundError(`container "${name}" has not started yet; its log`);
      const since = sinceOf(opts);
      const stream = await engine.logs(target, !!container().tty, {
        follow: !!opts.follow && running,
        timestamps: !!opts.timestamps,
        tail: opts.tailLines,
        since: since === undefined ? undefined : Math.floor(since / 1000),
        signal: opts.signal,
      });
      return limitBytes(stream, opts.limitBytes);
    },

    exec(command, io) {
      if (!id || !running) {
        return Promise.reject(new Error(`container ${name} is not running`));
      }
      return engine.exec(id, command, io);
    },

    async attach(io) {
      if (!id || !running) throw new Error(`container ${name} is not running`);
      await engine.attach(id, io);
    },

    async stats() {
      if (!id || !running) return undefined;
      const s = await engine.stats(id);
      if (!s) return undefined;
      const now = Date.now();
      const rate = cpu && now > cpu.at
        ? Math.max(0, Math.round(((s.cpuNanoSeconds - cpu.ns) / (now - cpu.at)) * 1e6))
        : undefined;
      cpu = { ns: s.cpuNanoSeconds, at: now };
      return {
        cpuUsageCoreNanoSeconds: s.cpuNanoSeconds,
        cpuUsageNanoCores: rate,
        memoryUsageBytes: s.memoryUsageBytes,
        memoryWorkingSetBytes: s.workingSetBytes,
        memoryRssBytes: s.rssBytes,
      };
    },

    address() {
      return id ? engine.address(id, deps.network) : Promise.resolve(undefined);
    },
  };
}
