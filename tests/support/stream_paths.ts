// Which path kube-apiserver took for streaming requests, from its own metrics:
// apiserver_websocket_streaming_requests_total{subresource, proxy_type} counts each exec,
// attach and portforward request it routed, "proxied_to_kubelet" when it passed the upgrade
// straight to the node (ExtendWebSocketsToKubelet on and declared by the node), otherwise
// "translated_at_apiserver". And the agent's side: vzk_kubelet_api_stream_upgrades_total.

export type Subresource = "exec" | "attach" | "portforward";

export interface PathCounts {
  proxied: number;
  translated: number;
}

import assert from "node:assert/strict";

const KINDS: Subresource[] = ["exec", "attach", "portforward"];

/**
 * Every kind of stream went the `path`: kube-apiserver counted exec, attach and portforward
 * requests only as that path, and the agent saw them over WebSocket (proxied) or only SPDY.
 */
export function assertStreamPaths(
  path: "proxied" | "translated",
  apiServerMetrics: string,
  agentMetrics: string,
): void {
  const other = path === "proxied" ? "translated" : "proxied";
  const paths = apiServerPaths(apiServerMetrics);
  const upgrades = agentUpgrades(agentMetrics);
  for (const kind of KINDS) {
    assert.ok(paths[kind][path] > 0, `${kind}: ${JSON.stringify(paths[kind])}`);
    assert.equal(paths[kind][other], 0, kind);
    const seen = upgrades[kind];
    if (path === "proxied") assert.ok(seen.websocket > 0, `${kind}: ${JSON.stringify(seen)}`);
    else {
      assert.ok(seen.spdy > 0, `${kind}: ${JSON.stringify(seen)}`);
      assert.equal(seen.websocket, 0, kind);
    }
  }
}

const API_SERVER = "apiserver_websocket_streaming_requests_total";
const AGENT = "vzk_kubelet_api_stream_upgrades_total";

/** `name{a="x",b="y"} 3` lines of a Prometheus text exposition: labels and value. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf("}");
    const labels: Record<string, string> = {};
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)) {
      labels[m[1]] = m[2];
    }
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

/** Per subresource, how many requests kube-apiserver proxied and translated. */
export function apiServerPaths(metrics: string): Record<Subresource, PathCounts> {
  const counts: Record<Subresource, PathCounts> = {
    exec: { proxied: 0, translated: 0 },
    attach: { proxied: 0, translated: 0 },
    portforward: { proxied: 0, translated: 0 },
  };
  for (const { labels, value } of samples(metrics, API_SERVER)) {
    const c = counts[labels.subresource as Subresource];
    if (!c) continue;
    if (labels.proxy_type === "proxied_to_kubelet") c.proxied += value;
    else if (labels.proxy_type === "translated_at_apiserver") c.translated += value;
  }
  return counts;
}

/** Per kind, how many streaming requests the agent upgraded over each transport. */
export function agentUpgrades(
  metrics: string,
): Record<Subresource, { spdy: number; websocket: number }> {
  const out: Record<Subresource, { spdy: number; websocket: number }> = {
    exec: { spdy: 0, websocket: 0 },
    attach: { spdy: 0, websocket: 0 },
    portforward: { spdy: 0, websocket: 0 },
  };
  for (const { labels, value } of samples(metrics, AGENT)) {
    const c = out[labels.kind as Subresource];
    if (c && (labels.transport === "spdy" || labels.transport === "websocket")) {
      c[labels.transport] += value;
    }
  }
  return out;
}
