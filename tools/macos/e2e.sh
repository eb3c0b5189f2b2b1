#!/usr/bin/env bash
# End to end on a real Mac (the macOS workflow's self-hosted job, or by hand): the signed agent
# joins the cluster as node $E2E_NODE_NAME, runs one macOS VM pod from $E2E_MACOS_IMAGE until it
# is Ready, execs in it, reads its log, deletes it, and checks that nothing of the VM is left.
#
# Needs: kubectl; KUBECONFIG: an admin's (creates the pod, removes the node afterwards);
# E2E_NODE_KUBECONFIG: the node's own credentials (CN=system:node:$E2E_NODE_NAME), or unset to
# run the agent with KUBECONFIG; E2E_MACOS_IMAGE; VZ_SSH_USER with VZ_SSH_PRIVATE_KEY_PATH or
# VZ_SSH_PASSWORD for that image. Run it in the logged-in user's session (see README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bin="${E2E_BINARY:-dist/macos-vz-kubelet}"
node="${E2E_NODE_NAME:?E2E_NODE_NAME: the node name its credentials are for}"
image="${E2E_MACOS_IMAGE:?E2E_MACOS_IMAGE: a macOS VM image reference}"
cache="${E2E_CACHE_DIR:-$HOME/Library/Caches/macos-vz-kubelet-e2e}"  # kept: images are large
pod="vz-e2e-$(date +%s)"
log="$(mktemp -t vz-e2e-agent)"
say() { echo "e2e: $*" >&2; }

KUBECONFIG="${E2E_NODE_KUBECONFIG:-$KUBECONFIG}" "$bin" --nodename "$node" --cache-dir "$cache" \
  --log-level debug 2>"$log" &
agent=$!

cleanup() {
  local code=$?
  kubectl delete pod "$pod" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
  kubectl delete node "$node" --ignore-not-found >/dev/null 2>&1 || true
  ((code == 0)) || { say "failed; the agent's last log lines:"; tail -n 40 "$log" >&2; }
}
trap cleanup EXIT

say "waiting for node $node"
for _ in $(seq 60); do kubectl get node "$node" >/dev/null 2>&1 && break; sleep 2; done
kubectl wait --for=condition=Ready "node/$node" --timeout=120s

say "starting pod $pod from $image"
kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $pod
spec:
  nodeName: $node
  tolerations:
    - key: virtual-kubelet.io/provider
      operator: Exists
  terminationGracePeriodSeconds: 120
  containers:
    - name: macos
      image: $image
      resources:
        requests:
          cpu: "4"
          memory: 8Gi
YAML
kubectl wait --for=condition=Ready "pod/$pod" --timeout="${E2E_POD_TIMEOUT:-1800s}"
kubectl get pod "$pod" -o wide

say "exec in the guest"
kubectl exec "$pod" -c macos -- sw_vers | tee /dev/stderr | grep -q ProductVersion
say "the container log shows the VM's lifecycle"
kubectl logs "$pod" -c macos | grep -q "\[vz\] vm default/$pod: running"

say "deleting the pod"
kubectl delete pod "$pod" --timeout=300s
left="$(ls -A "$cache/vms" 2>/dev/null || true)"
[[ -z "$left" ]] || { say "VM work directories left behind: $left"; exit 1; }
say "passed"
