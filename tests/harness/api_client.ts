// A minimal HTTPS client for a test cluster's API server that authenticates with a client
// certificate (or anonymously) and trusts only the cluster CA. Used for readiness polling and
// by tests that need raw status codes.

export interface ApiResponse {
  status: number;
  body: string;
}

export interface ApiClient {
  request(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  close(): void;
}

export interface ApiClientOptions {
  server: string;
  caCertPath: string;
  clientCertPath?: string;
  clientKeyPath?: string;
}

/** A client for `server`; without a client certificate requests are anonymous. */
export async function apiClient(opts: ApiClientOptions): Promise<ApiClient> {
  const caCert = await Deno.readTextFile(opts.caCertPath);
  const withCert = opts.clientCertPath && opts.clientKeyPath;
  const http = withCert
    ? Deno.createHttpClient({
      caCerts: [caCert],
      cert: await Deno.readTextFile(opts.clientCertPath!),
      key: await Deno.readTextFile(opts.clientKeyPath!),
    })
    : Deno.createHttpClient({ caCerts: [caCert] });
  return {
    async request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
      const response = await fetch(`${opts.server}${path}`, {
        method,
        client: http,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: response.status, body: await response.text() };
    },
    close: () => http.close(),
  };
}

/** Polls `probe` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError && `: ${lastError}`}`,
  );
}
