// Default locations on disk: the cache directory, the kubeconfig, the generated serving
// certificate. Pure functions of the operating system, home directory and environment, so
// they can be tested for every platform on any platform.

import { posix } from "node:path";

/** Reverse-DNS name the Go original used for its cache (and launchd label) on macOS. */
export const MACOS_CACHE_NAME = "com.agoda.fleet.virtualization";
/** Directory name under the XDG cache directory elsewhere. */
export const XDG_CACHE_NAME = "macos-vz-kubelet";

/**
 * The cache directory when --cache-dir is not given:
 * macOS `~/Library/Caches/com.agoda.fleet.virtualization`; elsewhere
 * `$XDG_CACHE_HOME/macos-vz-kubelet` (only if absolute, per the XDG spec) or
 * `~/.cache/macos-vz-kubelet`.
 */
export function defaultCacheDir(
  os: string,
  homeDir: string,
  env: Record<string, string | undefined>,
): string {
  if (os === "darwin") return posix.join(homeDir, "Library", "Caches", MACOS_CACHE_NAME);
  const xdg = env["XDG_CACHE_HOME"];
  if (xdg && posix.isAbsolute(xdg)) return posix.join(xdg, XDG_CACHE_NAME);
  return posix.join(homeDir, ".cache", XDG_CACHE_NAME);
}

/** The kubeconfig when KUBECONFIG is not set: `~/.kube/config`. */
export function defaultKubeconfigPath(homeDir: string): string {
  return posix.join(homeDir, ".kube", "config");
}

/** `~` or `~/x` -> home-relative (launchd plists and env files do not expand `~`). */
export function expandHome(path: string, homeDir: string): string {
  if (path === "~") return homeDir;
  if (path.startsWith("~/")) return posix.join(homeDir, path.slice(2));
  return path;
}

/** Where ensureServingCert keeps the generated kubelet serving certificate and key. */
export function generatedServingCertPaths(cacheDir: string): { certPath: string; keyPath: string } {
  const dir = posix.join(cacheDir, "pki");
  return {
    certPath: posix.join(dir, "kubelet-serving.crt"),
    keyPath: posix.join(dir, "kubelet-serving.key"),
  };
}
