// Registers this agent's Node, keeps its status current (on change, and at least every
// minute), keeps its Lease renewed, and registers the node again if someone deletes it.
// Status is written with strategic merge patches that name only the conditions this agent
// owns, so conditions written by other controllers are never overwritten.

import type * as k8s from "@kubernetes/client-node";
import type { Config } from "../config/types.ts";
import {
  errorText,
  isForbidden,
  isNotFound,
  type KubeClients,
  strategicMerge,
} from "../kube/client.ts";
import { type EventRecorder, nodeRef } from "../kube/events.ts";
import type { Logger } from "../telemetry/log.ts";
import type { RuntimeStatus } from "../runtime/types.ts";
import { conditionsDiffer, nextConditions, observedConditions } from "./conditions.ts";
import {
  diskUsage,
  type HostFacts,
  type Pressure,
  pressure as measurePressure,
} from "../host/facts.ts";
import {
  buildNode,
  type NodeInput,
  nodeLabels,
  nodeStatusFields,
  ROLE_LABEL,
} from "./node_object.ts";
import { type LeaseRenewer, startLeaseRenewer } from "./lease.ts";
import { backoffDelay } from "../util/backoff.ts";

export interface NodeControllerOptions {
  clients: KubeClients;
  config: Config;
  host: HostFacts;
  runtime: () => RuntimeStatus;
  events: EventRecorder;
  log: Logger;
  /** How often status is measured (default 10 s). */
  statusIntervalMs?: number;
  /** Longest time between two status writes (default 60 s). */
  reportIntervalMs?: number;
  leaseIntervalMs?: number;
  /** Measurement source, replaceable in tests. */
  pressure?: (cacheDir: string) => Pressure;
  /** status.declaredFeatures; default DECLARED_FEATURES (tests: a node that declares less). */
  declaredFeatures?: readonly string[];
}

export interface NodeController {
  /** Registers the node and writes its first status; retries until `signal` aborts. */
  register(signal?: AbortSignal): Promise<void>;
  /** Measures and writes status now if it changed (or `force`). */
  syncStatus(force?: boolean): Promise<void>;
  stop(): void;
  readonly node: k8s.V1Node | undefined;
}

export function createNodeController(opts: NodeControllerOptions): NodeController {
  const { clients, config, log } = opts;
  const name = config.nodeName;
  const statusInterval = opts.statusIntervalMs ?? 10_000;
  const reportInterval = opts.reportIntervalMs ?? 60_000;
  const measure = opts.pressure ?? measurePressure;
  let node: k8s.V1Node | undefined;
  let lastWrite = 0;
  let lastFields = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lease: LeaseRenewer | undefined;
  let stopped = false;
  let omitLabels: string[] = [];

  const input = (): NodeInput => ({
    config,
    host: opts.host,
    disk: diskUsage(config.cacheDir),
    runtime: opts.runtime(),
    declaredFeatures: opts.declaredFeatures,
  });

  async function createOrAdopt(): Promise<void> {
    const body = buildNode(input(), omitLabels);
    try {
      node = await clients.core.createNode({ body });
      log.info("node registered", { node: name });
      opts.events.record(nodeRef(name), "Normal", "RegisteredNode", `Node ${name} registered`);
    } catch (err) {
      if (isForbidden(err) && errorText(err).includes(ROLE_LABEL) && !omitLabels.length) {
        // NodeRestriction lets a node set only well-known labels on itself; the role
        // label has to be added by an administrator.
        omitLabels = [ROLE_LABEL];
        log.warn("node credentials may not set a label; register without it", {
          label: `${ROLE_LABEL}=agent`,
          fix: `kubectl label node ${name} ${ROLE_LABEL}=agent`,
        });
        return createOrAdopt();
      }
      if ((err as { code?: number }).code !== 409) throw err;
      node = await clients.core.readNode({ name });
      await reconcileExisting(node);
      log.info("node already registered; taking it over", { node: name });
    }
    lastFields = "";
    lastWrite = 0;
  }

  /** Brings labels and taints of an existing node to what this agent wants. */
  async function reconcileExisting(existing: k8s.V1Node): Promise<void> {
    const want = nodeLabels(input());
    for (const l of omitLabels) delete want[l];
    const missing = Object.entries(want).filter(([k, v]) => existing.metadata?.labels?.[k] !== v);
    if (missing.length) {
      try {
        node = await clients.core.patchNode(
          { name, body: { metadata: { labels: Object.fromEntries(missing) } } },
          strategicMerge,
        );
      } catch (err) {
        log.warn("cannot update node labels", { node: name, error: errorText(err) });
      }
    }
    const ours = config.taint.key;
    const taints = existing.spec?.taints ?? [];
    const has = taints.some((t) =>
      t.key === ours && t.value === config.taint.value && t.effect === config.taint.effect
    );
    if (has === !config.disableTaint) return;
    const others = taints.filter((t) => t.key !== ours);
    const next = config.disableTaint ? others : [...others, {
      key: ours,
      value: config.taint.value,
      effect: config.taint.effect,
    }];
    try {
      node = await clients.core.replaceNode({
        name,
        body: { ...node!, spec: { ...node!.spec, taints: next } },
      });
    } catch (err) {
      // NodeRestriction forbids nodes from changing their own taints after creation.
      log.warn("cannot change node taints; delete the node object to re-register it", {
        node: name,
        error: errorText(err),
      });
    }
  }

  async function syncStatus(force = false): Promise<void> {
    const now = new Date();
    const inp = input();
    const fields = nodeStatusFields(inp);
    const observed = observedConditions({
      pressure: measure(config.cacheDir),
      runtime: inp.runtime,
      cacheDir: config.cacheDir,
      hasAddress: fields.addresses!.some((a) => a.type === "InternalIP"),
    });
    const fieldsKey = JSON.stringify(fields);
    const changed = fieldsKey !== lastFields ||
      conditionsDiffer(node?.status?.conditions, observed);
    if (!force && !changed && now.getTime() - lastWrite < reportInterval) return;
    const conditions = nextConditions(node?.status?.conditions, observed, now);
    try {
      node = await clients.core.patchNodeStatus(
        { name, body: { status: { ...fields, conditions } } },
        strategicMerge,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
      log.warn("node object is gone; registering again", { node: name });
      await createOrAdopt();
      node = await clients.core.patchNodeStatus(
        {
          name,
          body: { status: { ...fields, conditions: nextConditions(undefined, observed, now) } },
        },
        strategicMerge,
      );
      await lease?.renew();
    }
    lastFields = fieldsKey;
    lastWrite = now.getTime();
  }

  async function loop() {
    if (stopped) return;
    try {
      await syncStatus();
    } catch (err) {
      log.warn("cannot update node status", { node: name, error: errorText(err) });
    }
    if (!stopped) timer = setTimeout(loop, statusInterval);
  }

  return {
    get node() {
      return node;
    },
    async register(signal) {
      for (let attempt = 0;; attempt++) {
        try {
          await createOrAdopt();
          await syncStatus(true);
          break;
        } catch (err) {
          const delay = backoffDelay(attempt + 1, { initialMs: 500, maxMs: 10_000 });
          log.warn("cannot register node; retrying", {
            node: name,
            delayMs: delay,
            error: errorText(err),
          });
          await sleep(delay, signal);
        }
      }
      lease = startLeaseRenewer({
        coordination: clients.coordination,
        nodeName: name,
        nodeUid: () => node?.metadata?.uid,
        log,
        intervalMs: opts.leaseIntervalMs,
      });
      timer = setTimeout(loop, statusInterval);
    },
    syncStatus,
    stop() {
      stopped = true;
      lease?.stop();
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
