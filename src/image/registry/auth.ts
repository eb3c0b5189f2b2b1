// Registry authentication: answers 401 challenges. Basic auth sends the configured user and
// password; the bearer flow fetches a token from the challenge's realm (GET with basic
// credentials, or an OAuth2 refresh-token POST for identity tokens) for the challenge's
// service and the request's scope, and caches it until it expires. A registry that refuses
// credentials yields an AuthError naming the registry (and the user, never the password).

import { type Challenge, parseWwwAuthenticate } from "./www_authenticate.ts";
import type { Credentials, RegistryCredential } from "./credentials.ts";
import { AuthError, RegistryError, registryErrorDetail } from "./errors.ts";
import type { Transport } from "./transport.ts";

interface CachedToken {
  header: string;
  expiresAt: number;
}

interface RegistryState {
  scheme?: "basic" | "bearer";
  realm?: string;
  service?: string;
  tokens: Map<string, CachedToken>;
}

/** Tokens without `expires_in` live 60 s per the distribution token spec; renew a bit early. */
const DEFAULT_TOKEN_SECONDS = 60;
const EARLY_RENEW_MS = 10_000;

function basicHeader(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

function who(cred: RegistryCredential | undefined): string {
  if (!cred) return "anonymous";
  if (cred.username) return `user "${cred.username}"`;
  return "an identity token";
}

/** `repository:<repo>:<actions>` as the token service expects it. */
export function repositoryScope(repository: string, push: boolean): string {
  return `repository:${repository}:${push ? "pull,push" : "pull"}`;
}

export class Authenticator {
  #states = new Map<string, RegistryState>();
  #creds = new Map<string, Promise<RegistryCredential | undefined>>();

  constructor(private transport: Transport, private credentials: Credentials) {}

  #state(registry: string): RegistryState {
    let s = this.#states.get(registry);
    if (!s) {
      s = { tokens: new Map() };
      this.#states.set(registry, s);
    }
    return s;
  }

  /** The credential used for `registry` (for handing to worker threads; never log it). */
  credentialFor(registry: string): Promise<RegistryCredential | undefined> {
    return this.#credential(registry);
  }

  #credential(registry: string): Promise<RegistryCredential | undefined> {
    let c = this.#creds.get(registry);
    if (!c) {
      c = this.credentials.forRegistry(registry);
      this.#creds.set(registry, c);
    }
    return c;
  }

  /** The Authorization header to send proactively, when a previous challenge taught us one. */
  async authorization(registry: string, scope: string): Promise<string | undefined> {
    const s = this.#state(registry);
    if (s.scheme === "basic") {
      const cred = await this.#credential(registry);
      if (cred?.username !== undefined && cred.password !== undefined) {
        return basicHeader(cred.username, cred.password);
      }
      return undefined;
    }
    if (s.scheme === "bearer") {
      const t = s.tokens.get(scope);
      if (t && t.expiresAt > Date.now()) return t.header;
      if (s.realm) return await this.#fetchToken(registry, s, scope);
    }
    return undefined;
  }

  /**
   * Learns from a 401 response. `sent` is the Authorization header the failed request
   * carried: if we already sent what we have, the registry rejected it and this throws.
   */
  async onUnauthorized(
    registry: string,
    scope: string,
    response: Response,
    sent: string | undefined,
  ): Promise<void> {
    const header = response.headers.get("www-authenticate") ?? "";
    const challenges = parseWwwAuthenticate(header);
    const detail = await registryErrorDetail(response);
    const cred = await this.#credential(registry);
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    const s = this.#state(registry);
    if (bearer?.params.realm) {
      if (sent?.startsWith("Bearer ") && this.#sameRealm(s, bearer) && !bearer.params.error) {
        s.tokens.delete(scope);
        throw this.#rejected(registry, cred, detail.message);
      }
      s.scheme = "bearer";
      s.realm = bearer.params.realm;
      s.service = bearer.params.service;
      s.tokens.delete(scope);
      if (sent?.startsWith("Bearer ") && bearer.params.error === "insufficient_scope") {
        throw this.#rejected(registry, cred, `insufficient scope ${scope}`);
      }
      return;
    }
    if (basic || header === "") {
      if (!cred?.username || cred.password === undefined) {
        throw new AuthError(
          `registry ${registry} requires authentication and no credentials are configured ` +
            `for it (${detail.message})`,
          registry,
          401,
        );
      }
      if (sent?.startsWith("Basic ")) throw this.#rejected(registry, cred, detail.message);
      s.scheme = "basic";
      return;
    }
    throw new AuthError(
      `registry ${registry} asks for unsupported authentication "${header.slice(0, 80)}"`,
      registry,
      401,
    );
  }

  #sameRealm(s: RegistryState, c: Challenge): boolean {
    return s.scheme === "bearer" && s.realm === c.params.realm;
  }

  #rejected(registry: string, cred: RegistryCredential | undefined, why: string): AuthError {
    const msg = cred
      ? `registry ${registry} rejected the credentials of ${who(cred)} (${why})`
      : `registry ${registry} refused anonymous access (${why}); configure credentials for it`;
    return new AuthError(msg, registry, 401);
  }

  async #fetchToken(registry: string, s: RegistryState, scope: string): Promise<string> {
    const cred = await this.#credential(registry);
    if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
    const realm = new URL(s.realm!);
    if (realm.protocol !== "https:" && !this.#plainRealmAllowed(registry, realm)) {
      throw new AuthError(
        `registry ${registry}: token realm ${realm.origin} is not https; refusing to send credentials`,
        registry,
        401,
      );
    }
    let response: Response;
    if (cred?.identityToken) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: cred.identityToken,
        client_id: "macos-vz-kubelet",
        scope,
      });
      if (s.service) form.set("service", s.service);
      response = await this.transport.withRetries(`token ${realm.origin}`, async () => {
        const r = await this.transport.send(realm.toString(), {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: form.toString(),
        });
        return await this.#checkServer(r, registry);
      });
    } else {
      if (s.service) realm.searchParams.set("service", s.service);
      realm.searchParams.set("scope", scope);
      const headers: Record<string, string> = {};
      if (cred?.username && cred.password !== undefined) {
        headers.Authorization = basicHeader(cred.username, cred.password);
      }
      response = await this.transport.withRetries(`token ${realm.origin}`, async () => {
        const r = await this.transport.send(realm.toString(), { headers });
        return await this.#checkServer(r, registry);
      });
    }
    if (response.status === 401 || response.status === 403) {
      const detail = await registryErrorDetail(response);
      throw this.#rejected(registry, cred, `token service: ${detail.message}`);
    }
    if (!response.ok) {
      const detail = await registryErrorDetail(response);
      throw new AuthError(
        `registry ${registry}: token service ${realm.origin} failed: ${detail.message}`,
        registry,
        response.status,
      );
    }
    const json = await response.json() as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = json.token ?? json.access_token;
    if (!token) {
      throw new AuthError(`registry ${registry}: token service returned no token`, registry, 401);
    }
    const seconds = typeof json.expires_in === "number" && json.expires_in > 0
      ? json.expires_in
      : DEFAULT_TOKEN_SECONDS;
    const header = `Bearer ${token}`;
    s.tokens.set(scope, { header, expiresAt: Date.now() + seconds * 1000 - EARLY_RENEW_MS });
    return header;
  }

  /** A plain-HTTP realm is acceptable only where plain HTTP is (loopback, insecure registries). */
  #plainRealmAllowed(registry: string, realm: URL): boolean {
    return this.transport.plainAllowed(registry) || this.transport.plainAllowed(realm.host);
  }

  async #checkServer(r: Response, registry: string): Promise<Response> {
    if (r.status >= 500 || r.status === 429) {
      const detail = await registryErrorDetail(r);
      throw new RegistryError(
        `registry ${registry}: token service: ${detail.message}`,
        registry,
        r.status,
      );
    }
    return r;
  }
}
