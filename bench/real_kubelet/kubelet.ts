// The real-kubelet baseline of the kubelet API benchmark: a kubelet (REAL_KUBELET_VERSION,
// built once from the Kubernetes Go modules into the cache beside the control plane) on this
// host, joined to the benchmark's control plane with node credentials under NodeRestriction,
// authenticating callers with the cluster CA and TokenReview and authorising them with
// SubjectAccessReview as the agent does, over its own containerd 1.6 and runc. Its one pod
// runs busybox on the host network with the benchmark's directory mounted at the same
// path, so `cat FILE` and port-forward to a host port are the same work the agent's pod does.

import { cacheRoot } from "../../tests/harness/k8s_binaries.ts";
import { busyboxRootfs } from "../../tests/harness/docker.ts";
import type { ControlPlane } from "../../tests/harness/control_plane.ts";
import { freePort } from "../../tests/harness/ports.ts";
import { type Child, spawnLogged, tailLog } from "../../tests/harness/process.ts";
import { type Containerd, startContainerd, unmountAll } from "./containerd.ts";
import { ociArchive } from "./oci_image.ts";
import { adminClients } from "../../tests/support/world.ts";

export const REAL_KUBELET_VERSION = "v1.35.4";
const BUSYBOX = "docker.io/library/bench-busybox:1";
const PAUSE = "docker.io/library/bench-pause:1";

/** The kubelet binary, built (about 4 minutes on 2 cores) when the cache lacks it. */
export async function kubeletBinary(): Promise<string> {
  const dir = `${cacheRoot()}/kubelet-${REAL_KUBELET_VERSION}`;
  const path = `${dir}/kubelet`;
  if (await Deno.stat(path).then(() => true, () => false)) return path;
  const build = new URL("../../tests/harness/k8s/build.sh", import.meta.url).pathname;
  const out = await new Deno.Command("bash", {
    args: [build, REAL_KUBELET_VERSION, cacheRoot(), "kubelet", "kubelet"],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`building kubelet ${REAL_KUBELET_VERSION} failed`);
  return path;
}

interface ServingCreds {
  servingCert: string;
  servingKey: string;
  caCert: string;
}

/** The KubeletConfiguration (JSON, which the kubelet reads as YAML). */
function kubeletConfig(port: number, creds: ServingCreds, socket: string): string {
  return JSON.stringify(
    {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      port,
      readOnlyPort: 0,
      healthzPort: 0,
      tlsCertFile: creds.servingCert,
      tlsPrivateKeyFile: creds.servingKey,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: creds.caCert },
      },
      authorization: { mode: "Webhook" },
      containerRuntimeEndpoint: `unix://${socket}`,
      cgroupDriver: "cgroupfs",
      // This host has cgroup v1, which 1.35 refuses unless told; no QoS hierarchy of its own.
      failCgroupV1: false,
      cgroupsPerQOS: false,
      enforceNodeAllocatable: [],
      failSwapOn: false,
      oomScoreAdj: 0,
      makeIPTablesUtilChains: false,
      localStorageCapacityIsolation: false,
      evictionHard: {},
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      resolvConf: "",
      staticPodPath: "",
      registerNode: true,
      serializeImagePulls: false,
      fileCheckFrequency: "1h",
      syncFrequency: "1m",
    },
    null,
    2,
  );
}

export interface RealKubelet {
  node: string;
  /** The benchmark pod's name (running when start returns). */
  pod: string;
  stop(): Promise<void>;
}

/**
 * Starts containerd and the kubelet as node `node` of `cp`, and runs pod `podName` with
 * `shared` (a host directory) mounted at the same path. Resolves once the pod runs.
 */
export async function startRealKubelet(
  cp: ControlPlane,
  node: string,
  nodeIp: string,
  shared: string,
  dir: string,
  podName = "bench",
): Promise<RealKubelet> {
  const admin = adminClients(cp).core;
  const phase = async () =>
    (await admin.readNamespacedPod({ name: podName, namespace: "default" }).catch(() => undefined))
      ?.status?.phase;
  const binary = await kubeletBinary();
  const rootfs = await busyboxRootfs(`${dir}/image`);
  const images = [
    await ociArchive({ name: BUSYBOX, rootfs, cmd: ["/bin/sh"] }, dir, "busybox"),
    await ociArchive({ name: PAUSE, rootfs, cmd: ["/bin/sleep", "2147483647"] }, dir, "pause"),
  ];
  let containerd: Containerd | undefined;
  let kubelet: Child | undefined;
  const stop = async () => {
    await admin.deleteNamespacedPod({ name: podName, namespace: "default", gracePeriodSeconds: 0 })
      .catch(() => {});
    await kubelet?.stop(10_000);
    await containerd?.stop();
    await unmountAll(dir);
  };
  try {
    containerd = await startContainerd(`${dir}/containerd`, PAUSE);
    for (const a of images) await containerd.importImage(a);
    const creds = await cp.nodeCredentials(node);
    const port = freePort();
    const configPath = `${dir}/kubelet.yaml`;
    await Deno.writeTextFile(configPath, kubeletConfig(port, creds, containerd.socket));
    kubelet = await spawnLogged({
      name: "kubelet",
      command: binary,
      args: [
        `--config=${configPath}`,
        `--kubeconfig=${creds.kubeconfig}`,
        `--root-dir=${dir}/kubelet`,
        `--hostname-override=${node}`,
        `--node-ip=${nodeIp}`,
        "--v=1",
      ],
      logPath: `${dir}/kubelet.log`,
    });
    await admin.createNamespacedPod({
      namespace: "default",
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: podName, namespace: "default" },
        spec: {
          nodeName: node,
          hostNetwork: true,
          terminationGracePeriodSeconds: 0,
          tolerations: [{ operator: "Exists" }],
          containers: [{
            name: "main",
            image: BUSYBOX,
            imagePullPolicy: "Never",
            command: ["/bin/sleep", "2147483647"],
            volumeMounts: [{ name: "shared", mountPath: shared }],
          }],
          volumes: [{ name: "shared", hostPath: { path: shared } }],
          automountServiceAccountToken: false,
        },
      },
    });
    const deadline = Date.now() + 120_000;
    while ((await phase()) !== "Running") {
      if (kubelet.hasExited()) throw new Error(`kubelet exited: ${await tailLog(kubelet.logPath)}`);
      if (Date.now() > deadline) {
        throw new Error(
          `the kubelet's pod did not run in 120 s: ${await tailLog(kubelet.logPath)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return { node, pod: podName, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
