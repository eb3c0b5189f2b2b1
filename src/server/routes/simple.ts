// The kubelet API's plain read-only routes: /healthz, /pods, /runningpods/, /stats/summary,
// /metrics/resource and /metrics.

import type { ServerResponse } from "node:http";
import type * as k8s from "@kubernetes/client-node";
import type { ServerContext } from "../context.ts";
import { resourceMetrics, summary } from "../stats_format.ts";

function send(res: ServerResponse, contentType: string, body: string, head = false): void {
  res.writeHead(200, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}

function podList(items: k8s.V1Pod[]): string {
  return JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: {}, items });
}

export function healthz(res: ServerResponse, head: boolean): void {
  send(res, "text/plain; charset=utf-8", "ok", head);
}

export function pods(ctx: ServerContext, res: ServerResponse, head: boolean): void {
  send(res, "application/json", podList(ctx.pods.list()), head);
}

export function runningPods(ctx: ServerContext, res: ServerResponse, head: boolean): void {
  send(res, "application/json", podList(ctx.runtime.runningPods()), head);
}

export async function statsSummary(
  ctx: ServerContext,
  res: ServerResponse,
  head: boolean,
): Promise<void> {
  const body = summary(ctx.nodeName, ctx.nodeSample(), await ctx.runtime.stats());
  send(res, "application/json", JSON.stringify(body), head);
}

export async function metricsResource(
  ctx: ServerContext,
  res: ServerResponse,
  head: boolean,
): Promise<void> {
  const text = resourceMetrics(ctx.nodeSample(), await ctx.runtime.stats());
  send(res, "text/plain; version=0.0.4; charset=utf-8", text, head);
}

export function metrics(ctx: ServerContext, res: ServerResponse, head: boolean): void {
  const text = ctx.metrics.render({
    vzk_pods_running: {
      help: "Pods the runtime is running on this node.",
      value: ctx.runtime.runningPods().length,
    },
  });
  send(res, "text/plain; version=0.0.4; charset=utf-8", text, head);
}
