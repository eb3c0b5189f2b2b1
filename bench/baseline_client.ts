// Baseline process for the node benchmarks: loads the same Kubernetes client the agent uses,
// makes one authenticated API call, then exits (or, with --idle, stays idle until killed).

import "reflect-metadata";
import { loadKubeConfig, makeClients } from "../src/kube/client.ts";

const clients = makeClients(
  loadKubeConfig({ kubeconfigPath: Deno.env.get("KUBECONFIG") ?? "" }),
);
await clients.core.readNode({ name: "bench-node" }).catch(() => undefined);
if (Deno.args.includes("--idle")) {
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  setInterval(() => {}, 1 << 30);
}
