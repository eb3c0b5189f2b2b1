// The Docker engine connection for sidecar containers: DOCKER_HOST -> dockerode client,
// and a cheap reachability probe used by admission and node info.

import type Docker from "dockerode";
import http from "node:http";
import https from "node:https";

/**
 * A dockerode client for DOCKER_HOST. dockerode is imported on first use: the agent on a
 * host without sidecars should not carry its memory.
 */
export async function dockerClient(dockerHost: string): Promise<Docker> {
  const { default: Docker } = await import("dockerode");
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

/**
 * Asks the engine for its version (GET /version), giving up after `timeoutMs`. Plain
 * node:http rather than dockerode: the agent probes at start-up and every 30 s, and loading
 * dockerode for that alone would cost every agent memory it may never need.
 */
export function probeDocker(dockerHost: string, timeoutMs = 2_000): Promise<DockerProbe> {
  const url = new URL(dockerHost);
  const target: http.RequestOptions = url.protocol === "unix:"
    ? { socketPath: url.pathname }
    : { host: url.hostname, port: Number(url.port || 2375) };
  const get = url.protocol === "https:" ? https.get : http.get;
  return new Promise((resolve) => {
    const req = get({ ...target, path: "/version", timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => body += chunk);
      res.on("end", () => {
        if (res.statusCode !== 200) {
          return resolve({ reachable: false, error: `HTTP ${res.statusCode} from /version` });
        }
        try {
          resolve({ reachable: true, version: (JSON.parse(body) as { Version?: string }).Version });
        } catch {
          resolve({ reachable: false, error: "/version did not answer JSON" });
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => resolve({ reachable: false, error: err.message }));
  });
}
