// Self-contained kubeconfig files (certificates embedded as base64 data) for the users of a
// test cluster. Written as JSON, which kubectl, client-go and @kubernetes/client-node all read.

export interface KubeconfigSpec {
  server: string;
  caCertPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  user: string;
  clusterName?: string;
}

function base64File(path: string): Promise<string> {
  return Deno.readFile(path).then((bytes) => {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  });
}

/** The kubeconfig text for one user with a client certificate. */
export async function kubeconfigText(spec: KubeconfigSpec): Promise<string> {
  const cluster = spec.clusterName ?? "vzk-test";
  const [ca, cert, key] = await Promise.all([
    base64File(spec.caCertPath),
    base64File(spec.clientCertPath),
    base64File(spec.clientKeyPath),
  ]);
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: cluster,
      cluster: { server: spec.server, "certificate-authority-data": ca },
    }],
    users: [{ name: spec.user, user: { "client-certificate-data": cert, "client-key-data": key } }],
    contexts: [{ name: spec.user, context: { cluster, user: spec.user } }],
    "current-context": spec.user,
    preferences: {},
  };
  return JSON.stringify(config, null, 2) + "\n";
}

/** Writes a kubeconfig (mode 0600) and returns its path. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<string> {
  await Deno.writeTextFile(path, await kubeconfigText(spec), { mode: 0o600 });
  return path;
}
