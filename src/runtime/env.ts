// A container's environment as the kubelet builds it: envFrom (config maps and secrets, with
// prefixes) first, then env in order, each value with $(VAR) references to earlier variables
// expanded, valueFrom from the downward API (fieldRef, resourceFieldRef), config map and
// secret keys (optional ones may be missing). A missing object or key that is not optional
// is a CreateContainerConfigError: the container waits, and starts once it exists.

import type * as k8s from "@kubernetes/client-node";
import type { ObjectReader } from "../kube/objects.ts";
import { type DownwardContext, fieldValue, resourceValue } from "../volumes/downward.ts";
import { expandRefs } from "../containers/spec.ts";
import { StartError } from "./driver.ts";

export interface EnvContext extends DownwardContext {
  container: k8s.V1Container;
  /** Where the container's env is declared, for messages: spec.containers[1] (name). */
  field: string;
  reader?: ObjectReader;
  /** Variables every container gets before its own (the `kubernetes` service's). */
  base?: [string, string][];
}

const decode = (b64: string) =>
  new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

/** Whether any env entry reads the pod's IP (such a container starts once the VM has one). */
export function needsPodIP(c: k8s.V1Container): boolean {
  return (c.env ?? []).some((e) =>
    /^status\.podIPs?$/.test(e.valueFrom?.fieldRef?.fieldPath ?? "")
  );
}

function configError(message: string): StartError {
  return new StartError("CreateContainerConfigError", message);
}

async function readObject(
  ctx: EnvContext,
  kind: "configMap" | "secret",
  name: string,
): Promise<Record<string, string> | undefined> {
  const ns = ctx.pod.metadata?.namespace ?? "default";
  if (!ctx.reader) throw configError(`${kind} ${ns}/${name}: this agent cannot read the API`);
  if (kind === "secret") {
    const s = await ctx.reader.secret(ns, name);
    return s && Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, decode(v)]));
  }
  const cm = await ctx.reader.configMap(ns, name);
  return cm && { ...cm.data };
}

/** The container's environment, resolved, in the order the kubelet gives it. */
export async function resolveEnv(ctx: EnvContext): Promise<[string, string][]> {
  const env = new Map<string, string>(ctx.base ?? []);
  const ns = ctx.pod.metadata?.namespace ?? "default";
  const cache = new Map<string, Record<string, string> | undefined>();
  const object = async (kind: "configMap" | "secret", name: string) => {
    const key = `${kind}/${name}`;
    if (!cache.has(key)) cache.set(key, await readObject(ctx, kind, name));
    return cache.get(key);
  };

  for (const [i, from] of (ctx.container.envFrom ?? []).entries()) {
    const kind = from.secretRef ? "secret" : "configMap";
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref?.name) continue;
    const data = await object(kind, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw configError(
        `${ctx.field}.envFrom[${i}]: ${kind} "${ns}/${ref.name}" not found; create it or mark ` +
          "the reference optional",
      );
    }
    for (const [k, v] of Object.entries(data)) env.set(`${from.prefix ?? ""}${k}`, v);
  }

  for (const [i, e] of (ctx.container.env ?? []).entries()) {
    const where = `${ctx.field}.env[${i}] (${e.name})`;
    if (!e.valueFrom) {
      env.set(e.name, expandRefs(e.value ?? "", env));
      continue;
    }
    const vf = e.valueFrom;
    if (vf.fieldRef) {
      const path = vf.fieldRef.fieldPath;
      // Whole label and annotation maps exist only in downwardAPI volumes.
      const v = /^metadata\.(labels|annotations)$/.test(path) ? undefined : fieldValue(ctx, path);
      if (v === undefined) {
        throw configError(
          `${where}.valueFrom.fieldRef: unsupported field "${vf.fieldRef.fieldPath}"`,
        );
      }
      env.set(e.name, v);
    } else if (vf.resourceFieldRef) {
      const v = resourceValue(ctx, vf.resourceFieldRef);
      if (v === undefined) {
        throw configError(
          `${where}.valueFrom.resourceFieldRef: unsupported resource ` +
            `"${vf.resourceFieldRef.resource}"`,
        );
      }
      env.set(e.name, v);
    } else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const kind = vf.secretKeyRef ? "secret" : "configMap";
      const ref = (vf.secretKeyRef ?? vf.configMapKeyRef)!;
      const data = await object(kind, ref.name ?? "");
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw configError(
          data
            ? `${where}: key "${ref.key}" not found in ${kind} "${ns}/${ref.name}"`
            : `${where}: ${kind} "${ns}/${ref.name}" not found; create it or mark the ` +
              "reference optional",
        );
      }
      env.set(e.name, value);
    } else {
      throw configError(`${where}.valueFrom: no source given (fieldRef, resourceFieldRef, ...)`);
    }
  }
  return [...env];
}
