// From a pod's container to the Docker create options: command and args (with $(VAR)
// references expanded as the kubelet does), environment, working dir, hostname (the pod's),
// ports, resource limits, the security context's basics, stdin/tty, the pod network and bind
// mounts. Pure: every input comes in resolved, so the mapping is unit-tested.

// @deno-types="@types/dockerode"
import type { ContainerCreateOptions } from "dockerode";
import type * as k8s from "@kubernetes/client-node";
import { parseQuantity } from "../kube/quantity.ts";
import { type ContainerIdentity, containerLabels, containerName } from "./names.ts";

export interface SpecInput {
  id: ContainerIdentity;
  pod: k8s.V1Pod;
  container: k8s.V1Container;
  /** The image reference to run (as pulled). */
  image: string;
  /** The container's environment, resolved (plain values and valueFrom), in order. */
  env: [string, string][];
  /** Docker network the container joins. */
  network: string;
  /** host:container[:ro] bind mounts. */
  binds?: string[];
  /** "name:address" entries for the container's /etc/hosts. */
  extraHosts?: string[];
}

/**
 * Expands `$(NAME)` from `env` the way the kubelet does: `$$` escapes a dollar, unknown
 * references stay as written.
 */
export function expandRefs(text: string, env: Map<string, string>): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== "$" || i + 1 >= text.length) {
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i++;
      continue;
    }
    if (next === "(") {
      const end = text.indexOf(")", i + 2);
      if (end > 0) {
        const name = text.slice(i + 2, end);
        if (env.has(name)) {
          out += env.get(name);
          i = end;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

/** The pod's hostname as the kubelet sets it: spec.hostname, else the pod name (63 chars). */
export function podHostname(pod: k8s.V1Pod): string {
  return (pod.spec?.hostname || pod.metadata?.name || "pod").slice(0, 63);
}

/** runAsUser[:runAsGroup] from the container's security context, else the pod's. */
export function dockerUser(pod: k8s.V1Pod, c: k8s.V1Container): string | undefined {
  const user = c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  const group = c.securityContext?.runAsGroup ?? pod.spec?.securityContext?.runAsGroup;
  if (user === undefined) return group === undefined ? undefined : `0:${group}`;
  return group === undefined ? String(user) : `${user}:${group}`;
}

/** CPU and memory limits (requests when there are no limits do not constrain, as on Linux). */
export function dockerResources(c: k8s.V1Container): { NanoCpus?: number; Memory?: number } {
  const out: { NanoCpus?: number; Memory?: number } = {};
  const cpu = parseQuantity(c.resources?.limits?.cpu);
  if (cpu !== undefined && cpu > 0) out.NanoCpus = Math.round(cpu * 1e9);
  const mem = parseQuantity(c.resources?.limits?.memory);
  if (mem !== undefined && mem > 0) out.Memory = Math.round(mem);
  return out;
}

export function dockerCreateOptions(input: SpecInput): ContainerCreateOptions {
  const { container: c, pod } = input;
  const envMap = new Map(input.env);
  const expand = (list: string[] | undefined) => list?.map((s) => expandRefs(s, envMap));
  const sc = c.securityContext;
  const exposed = Object.fromEntries(
    (c.ports ?? []).map((p) => [`${p.containerPort}/${(p.protocol ?? "TCP").toLowerCase()}`, {}]),
  );
  return {
    name: containerName(input.id),
    Image: input.image,
    // command replaces the image's ENTRYPOINT (and then its CMD too); args replace CMD.
    Entrypoint: c.command?.length ? expand(c.command) : undefined,
    Cmd: c.args?.length ? expand(c.args) : c.command?.length ? [] : undefined,
    Env: input.env.map(([k, v]) => `${k}=${v}`),
    WorkingDir: c.workingDir || undefined,
    Hostname: podHostname(pod),
    User: dockerUser(pod, c),
    Labels: containerLabels(input.id),
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: !!c.tty,
    OpenStdin: !!c.stdin,
    StdinOnce: !!c.stdinOnce,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    HostConfig: {
      NetworkMode: input.network,
      ...dockerResources(c),
      Privileged: !!sc?.privileged,
      CapAdd: sc?.capabilities?.add?.length ? sc.capabilities.add : undefined,
      CapDrop: sc?.capabilities?.drop?.length ? sc.capabilities.drop : undefined,
      ReadonlyRootfs: !!sc?.readOnlyRootFilesystem,
      Binds: input.binds?.length ? input.binds : undefined,
      ExtraHosts: input.extraHosts?.length ? input.extraHosts : undefined,
      // The kubelet keeps logs bounded too; docker's json-file rotates at this size.
      LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "2" } },
      RestartPolicy: { Name: "no" },
    },
  };
}
