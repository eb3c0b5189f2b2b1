// A pod's image pull credentials, the way a kubelet finds them: the pod's imagePullSecrets,
// then its service account's, each a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg
// secret; the first entry matching the registry wins.

import type * as k8s from "@kubernetes/client-node";
import {
  type AuthTable,
  type Credentials,
  parseDockerCfg,
  parseDockerConfigJson,
  staticCredentials,
} from "../image/registry/credentials.ts";
import type { ObjectReader } from "../kube/objects.ts";
import { parseReference } from "../image/registry/reference.ts";
import type { RegistryAuth } from "../containers/engine.ts";

const decode = (b64: string) =>
  new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

function tableOf(secret: k8s.V1Secret, where: string): AuthTable | undefined {
  const data = secret.data ?? {};
  if (secret.type === "kubernetes.io/dockerconfigjson" && data[".dockerconfigjson"]) {
    return parseDockerConfigJson(decode(data[".dockerconfigjson"]), where);
  }
  if (secret.type === "kubernetes.io/dockercfg" && data[".dockercfg"]) {
    return parseDockerCfg(decode(data[".dockercfg"]), where);
  }
  return undefined;
}

export async function podPullCredentials(
  pod: k8s.V1Pod,
  reader: ObjectReader,
): Promise<{ credentials: Credentials; problems: string[] }> {
  const ns = pod.metadata?.namespace ?? "default";
  const names = (pod.spec?.imagePullSecrets ?? []).map((r) => r.name).filter((n): n is string =>
    !!n
  );
  const sa = await reader.serviceAccount(ns, pod.spec?.serviceAccountName ?? "default")
    .catch(() => undefined);
  for (const r of sa?.imagePullSecrets ?? []) {
    if (r.name && !names.includes(r.name)) names.push(r.name);
  }
  const tables: AuthTable[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const where = `imagePullSecrets ${ns}/${name}`;
    try {
      const secret = await reader.secret(ns, name);
      if (!secret) {
        problems.push(`${where}: secret not found`);
        continue;
      }
      const table = tableOf(secret, where);
      if (table) tables.push(table);
      else problems.push(`${where}: not a kubernetes.io/dockerconfigjson or dockercfg secret`);
    } catch (err) {
      problems.push(`${where}: ${err instanceof Error ? err.message : err}`);
    }
  }
  return { credentials: staticCredentials(...tables), problems };
}

/**
 * Docker registry auth for `image` from a pod's credentials (its pull secrets), or undefined
 * for an anonymous pull. Identity tokens go as Docker's identitytoken.
 */
export async function dockerAuth(
  image: string,
  credentials: (() => Promise<Credentials>) | undefined,
): Promise<RegistryAuth | undefined> {
  if (!credentials) return undefined;
  let registry: string;
  try {
    registry = parseReference(image).registry;
  } catch {
    return undefined; // the pull itself reports the bad reference
  }
  const cred = await (await credentials()).forRegistry(registry);
  if (!cred) return undefined;
  const serveraddress = registry === "docker.io" ? "https://index.docker.io/v1/" : registry;
  return {
    username: cred.username ?? "",
    password: cred.password ?? "",
    serveraddress,
    ...(cred.identityToken ? { identitytoken: cred.identityToken } : {}),
  };
}
