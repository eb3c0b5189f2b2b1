// A minimal OTLP/HTTP trace collector for tests: accepts POST /v1/traces with JSON bodies on
// 127.0.0.1 and keeps them, with helpers to find spans and their resource attributes.

export interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}

export interface OtlpSpan {
  name: string;
  attributes?: OtlpAttribute[];
  status?: { code?: number; message?: string };
}

interface OtlpBody {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

export interface CollectedSpan extends OtlpSpan {
  resource: OtlpAttribute[];
}

export interface Collector {
  /** e.g. http://127.0.0.1:PORT (no path): what OTEL_EXPORTER_OTLP_ENDPOINT takes. */
  readonly endpoint: string;
  /** Every request seen, whatever its path. */
  readonly requests: number;
  readonly bodies: OtlpBody[];
  spans(): CollectedSpan[];
  close(): Promise<void>;
}

export function startCollector(): Collector {
  const bodies: OtlpBody[] = [];
  let requests = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      requests++;
      if (req.method !== "POST" || new URL(req.url).pathname !== "/v1/traces") {
        return new Response("not found", { status: 404 });
      }
      let stream = req.body ?? new Blob([]).stream();
      if (req.headers.get("content-encoding") === "gzip") {
        stream = stream.pipeThrough(new DecompressionStream("gzip"));
      }
      bodies.push(JSON.parse(await new Response(stream).text()));
      return Response.json({});
    },
  );
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    bodies,
    spans: () =>
      bodies.flatMap((b) =>
        (b.resourceSpans ?? []).flatMap((rs) =>
          (rs.scopeSpans ?? []).flatMap((ss) =>
            (ss.spans ?? []).map((s) => ({ ...s, resource: rs.resource?.attributes ?? [] }))
          )
        )
      ),
    close: () => server.shutdown(),
  };
}

/** The string value of attribute `key`, if present. */
export function attr(attrs: OtlpAttribute[] | undefined, key: string): string | undefined {
  return attrs?.find((a) => a.key === key)?.value.stringValue;
}
