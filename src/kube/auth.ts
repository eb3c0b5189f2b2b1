// The two API calls the kubelet API's authentication and authorisation rest on: TokenReview
// (who does this bearer token belong to) and SubjectAccessReview (may this user do this to
// this node). Lives in src/kube because only src/kube builds API clients; src/server sees the
// narrow AuthApi interface and caches the answers.

import type * as k8s from "@kubernetes/client-node";
import { errorText, type KubeClients } from "./client.ts";
import type { KubeConfig } from "./kubeconfig.ts";

/** The identity a request authenticated as. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface TokenReviewResult {
  authenticated: boolean;
  user?: UserInfo;
  /** The API server's reason when the token was not accepted (never contains the token). */
  error?: string;
}

/** Attributes of a request against the node object, as a kubelet asks about them. */
export interface NodeAccess {
  user: UserInfo;
  verb: string;
  /** "proxy", "log", "stats", "metrics", "pods", "healthz", ... */
  subresource: string;
  node: string;
}

export interface AccessDecision {
  allowed: boolean;
  reason?: string;
}

export interface AuthApi {
  reviewToken(token: string): Promise<TokenReviewResult>;
  reviewAccess(access: NodeAccess): Promise<AccessDecision>;
}

/**
 * An AuthApi that asks the API server of `clients`, with the agent's own credentials, over
 * the same Deno HTTP client as every other API call (see http.ts: client-node's default
 * undici transport takes the whole process down when the API server ends a connection).
 * Both reviews are one POST each, so they go through RestClient directly.
 */
export function makeAuthApi(clients: Pick<KubeClients, "rest">): AuthApi {
  const { rest } = clients;
  /** POSTs a review object and returns the API server's answer; errors say which review. */
  async function create<T extends { kind?: string }>(path: string, body: T): Promise<T> {
    try {
      return await rest.request("POST", path, { body });
    } catch (err) {
      throw new Error(`${body.kind} failed: ${errorText(err)}`);
    }
  }
  return {
    async reviewToken(token: string): Promise<TokenReviewResult> {
      const review = await create<k8s.V1TokenReview>(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          spec: { token },
        },
      );
      const status = review.status ?? {};
      if (!status.authenticated || !status.user?.username) {
        return { authenticated: false, error: status.error ?? "token not authenticated" };
      }
      return {
        authenticated: true,
        user: {
          username: status.user.username,
          uid: status.user.uid,
          groups: status.user.groups ?? [],
          extra: status.user.extra,
        },
      };
    },

    async reviewAccess(access: NodeAccess): Promise<AccessDecision> {
      const review = await create<k8s.V1SubjectAccessReview>(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: access.user.username,
            uid: access.user.uid,
            groups: access.user.groups,
            extra: access.user.extra,
            resourceAttributes: {
              verb: access.verb,
              group: "",
              version: "v1",
              resource: "nodes",
              subresource: access.subresource,
              name: access.node,
            },
          },
        },
      );
      const status = review.status;
      return {
        allowed: status?.allowed === true && status.denied !== true,
        reason: status?.reason || status?.evaluationError || undefined,
      };
    },
  };
}

/** The PEM of the CA the kubeconfig trusts for its cluster, if it names one. */
export async function clusterCaPem(kc: KubeConfig): Promise<string | undefined> {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return atob(cluster.caData);
  if (cluster?.caFile) {
    try {
      return await Deno.readTextFile(cluster.caFile);
    } catch (err) {
      throw new Error(
        `kubeconfig: cannot read the cluster CA ${cluster.caFile}: ${errorText(err)}`,
      );
    }
  }
  return undefined;
}
