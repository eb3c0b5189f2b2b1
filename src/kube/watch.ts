// Kubernetes watches over Deno's fetch (see http.ts for why not client-node's Watch): one
// streaming GET with ?watch=true, one JSON event per line, `done` exactly once when the
// stream ends, fails or goes quiet for longer than the inactivity limit.

import { apiUrl, type RestClient } from "./rest.ts";

export type WatchCallback = (phase: string, obj: unknown, raw?: unknown) => void;

/** The phase a watcher reports once the server has answered the watch with 200 (no object). */
export const OPENED = "OPENED";

export interface Watcher {
  watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

export function denoWatcher(rest: RestClient, inactivityMs = 60_000): Watcher {
  return {
    async watch(path, query, callback, done) {
      const url = apiUrl(rest.server, path, { watch: "true", ...query });
      const headers = await rest.authHeaders();
      const controller = new AbortController();
      let finished = false;
      let timedOut = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (err: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        controller.abort();
        if (timedOut) {
          const e = new Error("watch: no data within the inactivity limit");
          e.name = "TimeoutError";
          done(e);
        } else done(err);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          finish(null);
        }, inactivityMs);
      };
      arm();
      (async () => {
        const resp = await fetch(url, {
          headers,
          signal: controller.signal,
          client: rest.http,
        });
        if (resp.status !== 200) {
          const text = await resp.text().catch(() => "");
          throw Object.assign(
            new Error(`watch ${path}: HTTP ${resp.status}: ${text.slice(0, 200)}`),
            {
              statusCode: resp.status,
            },
          );
        }
        callback(OPENED, undefined); // the server took the watch: it is up
        const decoder = new TextDecoder();
        let buf = "";
        for await (const chunk of resp.body!) {
          arm();
          buf += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let data: { type: string; object: unknown };
            try {
              data = JSON.parse(line);
            } catch {
              continue;
            }
            callback(data.type, data.object, data);
          }
        }
      })().then(() => finish(null), (err) => finish(controller.signal.aborted ? null : err));
      return controller;
    },
  };
}
