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
