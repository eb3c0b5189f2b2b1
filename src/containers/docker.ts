// The Docker engine connection for sidecar containers: DOCKER_HOST -> dockerode client,
// and a cheap reachability probe used by admission and node info.

import Docker from "dockerode";

export function dockerClient(dockerHost: string): Docker {
  const url = new URL(dockerHost);
  if (url.protocol === "unix:") return new Docker({ socketPath: url.pathname });
  const protocol = url.protocol === "https:" ? "https" : "http";
  return new Docker({
    host: url.hostname,
    port: Number(url.port || (protocol === "https" ? 2376 : 2375)),
    protocol,
  });
}

export interface DockerProbe {
  reachable: boolean;
  version?: string;
  error?: string;
}

/** Asks the engine for its version, giving up after `timeoutMs`. */
export async function probeDocker(dockerHost: string, timeoutMs = 2_000): Promise<DockerProbe> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const docker = dockerClient(dockerHost);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const info = await Promise.race([docker.version(), timeout]);
    return { reachable: true, version: info.Version };
  } catch (err) {
    return { reachable: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
