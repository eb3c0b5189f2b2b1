// Tracing (OpenTelemetry): builds the agent's Tracer from its tracing settings. Without an
// OTLP endpoint the tracer is a no-op and the SDK is never loaded (the idle agent's memory
// matters); with one, spans go through a batch processor to an OTLP/HTTP collector at
// <endpoint>/v1/traces.

import { ProxyTracerProvider, type Tracer } from "@opentelemetry/api";
import type { Sampler } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "./log.ts";

/** The tracing settings (Config has them under these names). */
export interface TracingOptions {
  /** OTLP/HTTP collector; tracing is off without one. */
  otlpEndpoint?: string;
  otelServiceName?: string;
  /** Share of root traces kept, 0..1; every trace when unset. */
  traceSampleRate?: number;
}

export interface Tracing {
  tracer: Tracer;
  /** Sends the spans still buffered and stops exporting. Idempotent. */
  shutdown(): Promise<void>;
}

const TRACER_NAME = "macos-vz-kubelet";
const DEFAULT_SERVICE_NAME = "macos-vz-kubelet";

export async function startTracing(config: TracingOptions, log: Logger): Promise<Tracing> {
  if (config.otlpEndpoint === undefined) return noopTracing();
  const [sdk, { resourceFromAttributes }, { OTLPTraceExporter }] = await Promise.all([
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);
  const url = tracesUrl(config.otlpEndpoint);
  const serviceName = config.otelServiceName ?? DEFAULT_SERVICE_NAME;
  const sampler: Sampler = config.traceSampleRate === undefined
    ? new sdk.AlwaysOnSampler()
    : new sdk.ParentBasedSampler({
      root: new sdk.TraceIdRatioBasedSampler(config.traceSampleRate),
    });
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName }),
    sampler,
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  log.info("tracing enabled", {
    collector: safeUrl(url),
    serviceName,
    sampleRate: config.traceSampleRate ?? "always",
  });
  let stopping: Promise<void> | undefined;
  return {
    tracer: provider.getTracer(TRACER_NAME),
    shutdown() {
      stopping ??= provider.shutdown().catch((err) =>
        log.warn("could not flush traces", { error: err })
      );
      return stopping;
    },
  };
}

/** A tracer that records nothing: a provider with no delegate hands out no-op tracers. */
function noopTracing(): Tracing {
  return { tracer: new ProxyTracerProvider().getTracer(TRACER_NAME), shutdown: async () => {} };
}

/** The OTLP/HTTP traces URL: `<endpoint>/v1/traces` unless the endpoint already is one. */
export function tracesUrl(endpoint: string): string {
  if (/\/v1\/traces\/?$/.test(endpoint)) return endpoint;
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

/** The URL without user info or query, which may carry credentials. */
function safeUrl(url: string): string {
  const u = URL.parse(url);
  return u ? `${u.origin}${u.pathname}` : "[unparsable]";
}
