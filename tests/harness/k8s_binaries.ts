// Locates the pinned Kubernetes control-plane binaries: from KUBEBUILDER_ASSETS when set,
// otherwise from the build cache outside the repository, building them (setup.sh --k8s-only,
// which also provides a new enough Go) when the cache is empty. The pinned release is the one
// line of k8s/version, which setup.sh reads too; each release has its own cache directory.

export const K8S_VERSION = Deno.readTextFileSync(new URL("./k8s/version", import.meta.url)).trim();

export interface K8sBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
}

const FILES: Record<keyof K8sBinaries, string> = {
  etcd: "etcd",
  kubeApiserver: "kube-apiserver",
  kubeControllerManager: "kube-controller-manager",
  kubeScheduler: "kube-scheduler",
  kubectl: "kubectl",
};

/** ${XDG_CACHE_HOME:-$HOME/.cache}/macos-vz-kubelet */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const base = xdg && xdg !== "" ? xdg : `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/macos-vz-kubelet`;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function binariesIn(dir: string): { found: K8sBinaries; missing: string[] } {
  const found = {} as K8sBinaries;
  const missing: string[] = [];
  for (const key of Object.keys(FILES) as (keyof K8sBinaries)[]) {
    found[key] = `${dir}/${FILES[key]}`;
    if (!isExecutable(found[key])) missing.push(FILES[key]);
  }
  return { found, missing };
}

async function build(): Promise<void> {
  const setup = new URL("./setup.sh", import.meta.url).pathname;
  const { code } = await new Deno.Command("bash", {
    args: [setup, "--k8s-only"],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`k8sBinaries: ${setup} --k8s-only failed with code ${code}`);
}

/** Paths of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl. */
export async function k8sBinaries(): Promise<K8sBinaries> {
  const assets = Deno.env.get("KUBEBUILDER_ASSETS");
  if (assets) {
    const { found, missing } = binariesIn(assets);
    if (missing.length > 0) {
      throw new Error(
        `KUBEBUILDER_ASSETS=${assets} lacks ${missing.join(", ")}; the test world needs all of ` +
          `${Object.values(FILES).join(", ")}. Add them there or unset KUBEBUILDER_ASSETS to ` +
          `build ${K8S_VERSION} into ${cacheRoot()}.`,
      );
    }
    return found;
  }
  const dir = `${cacheRoot()}/k8s-${K8S_VERSION}`;
  let { found, missing } = binariesIn(dir);
  if (missing.length === 0) return found;
  await build();
  ({ found, missing } = binariesIn(dir));
  if (missing.length > 0) throw new Error(`k8sBinaries: ${dir} still lacks ${missing.join(", ")}`);
  return found;
}
