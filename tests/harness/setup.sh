#!/usr/bin/env bash
# Prepares the machine for the test world before `deno task test|dev-cluster|bench`:
#   1. the Debian/Ubuntu packages it uses (installed as root with apt; otherwise listed),
#   2. a Go toolchain new enough to build the pinned Kubernetes release,
#   3. the Kubernetes binaries themselves (k8s/build.sh into the cache outside the repo),
#      unless KUBEBUILDER_ASSETS points at prebuilt ones.
# Idempotent; quick when everything is present. Progress lines start with "setup:".
#
# usage: setup.sh              everything
#        setup.sh --k8s-only   only steps 2 and 3 (used by tests/harness/k8s_binaries.ts)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s_version="$(tr -d '[:space:]' <"$here/k8s/version")" # one pin, read by k8s_binaries.ts too
go_minimum="1.26"          # the go directive of k8s.io/kubernetes v1.37.x (go 1.26.0)
go_toolchain="go1.26.8"    # fetched when the local Go is older
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/macos-vz-kubelet"
k8s_bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

say() { echo "setup: $*" >&2; }

# ---- 1. packages -------------------------------------------------------------------------

deb_arch() {
  if command -v dpkg >/dev/null 2>&1; then dpkg --print-architecture; else uname -m; fi
}

wanted_packages() {
  local qemu
  case "$(deb_arch)" in
    arm64 | aarch64) qemu=qemu-system-arm ;;
    *) qemu=qemu-system-x86 ;;
  esac
  echo docker-registry docker.io openssl iproute2 "$qemu" qemu-utils dnsmasq-base dnsmasq-utils \
    busybox-static dropbear-bin iptables curl util-linux xfsprogs openssh-client pigz time
}

deb_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "not a Debian/Ubuntu system: the Linux test world needs $(wanted_packages | tr ' ' ',')"
    say "(tests that need a missing part skip with a reason)"
    return 0
  fi
  local missing=() pkg
  for pkg in $(wanted_packages); do deb_installed "$pkg" || missing+=("$pkg"); done
  if ((${#missing[@]} == 0)); then
    say "packages present"
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    say "missing packages (not root, not installing): ${missing[*]}"
    say "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    return 0
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ---- 2. Go -------------------------------------------------------------------------------

# "1.26.8" from "go1.26.8" / "go1.26rc1"; empty when there is no go.
go_version_of() {
  GOTOOLCHAIN=local "$1" version 2>/dev/null | sed -n 's/^go version go\([0-9][0-9.]*\).*/\1/p'
}

# version_at_least 1.26.8 1.26 -> true
version_at_least() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

go_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) uname -m ;;
  esac
}

# The toolchain is itself a module (golang.org/toolchain); any Go can download it through the
# default module proxy. Unzipped module files lose their execute bits, which `go` itself
# restores after its own toolchain downloads; do the same here.
bootstrap_toolchain() {
  local old_go="$1" os json dir scratch
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  say "fetching Go $go_toolchain as module golang.org/toolchain"
  scratch="$(mktemp -d)"
  json="$(cd "$scratch" && GOTOOLCHAIN=local GO111MODULE=on "$old_go" mod download -json \
    "golang.org/toolchain@v0.0.1-$go_toolchain.$os-$(go_arch)" || true)"
  rmdir "$scratch"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
  [[ -n "$dir" && -d "$dir/bin" ]] || {
    say "could not download Go $go_toolchain: $json"
    return 1
  }
  find "$dir/bin" "$dir/pkg/tool" -type f ! -perm -u+x -exec chmod a+x {} + 2>/dev/null || true
  export PATH="$dir/bin:$PATH" GOTOOLCHAIN=local
}

ensure_go() {
  local go_bin version
  go_bin="$(command -v go || true)"
  [[ -n "$go_bin" ]] || for candidate in /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -x "$candidate" ]] && go_bin="$candidate" && export PATH="$(dirname "$candidate"):$PATH" && break
  done
  version="$([[ -n "$go_bin" ]] && go_version_of "$go_bin" || true)"
  if [[ -n "$version" ]] && version_at_least "$version" "$go_minimum"; then
    say "go $version ($go_bin)"
    return 0
  fi
  if [[ -n "$version" ]] && version_at_least "$version" 1.21; then
    say "go $version is older than $go_minimum: using GOTOOLCHAIN=$go_toolchain (downloads once)"
    export GOTOOLCHAIN="$go_toolchain"
    go version >&2
    return 0
  fi
  if [[ -z "$go_bin" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian golang-go to bootstrap Go $go_toolchain"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        golang-go ca-certificates >&2
      go_bin="$(command -v go)"
    else
      say "no Go found: install Go >= $go_minimum (https://go.dev/dl) to build Kubernetes $k8s_version"
      return 1
    fi
  fi
  bootstrap_toolchain "$go_bin"
  say "go $(go_version_of go) ($(command -v go))"
}

# ---- 3. Kubernetes -----------------------------------------------------------------------

ensure_k8s() {
  local b missing=()
  if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    for b in "${k8s_bins[@]}"; do [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || missing+=("$b"); done
    if ((${#missing[@]} > 0)); then
      say "error: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks ${missing[*]} (the test world needs" \
        "${k8s_bins[*]}); add them or unset KUBEBUILDER_ASSETS to build $k8s_version"
      return 1
    fi
    say "kubernetes binaries from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    return 0
  fi
  local dir="$cache_root/k8s-$k8s_version"
  for b in "${k8s_bins[@]}"; do [[ -x "$dir/$b" ]] || missing+=("$b"); done
  if ((${#missing[@]} == 0)); then
    say "kubernetes $k8s_version binaries in $dir"
    return 0
  fi
  ensure_go
  say "building kubernetes $k8s_version into $dir (once; takes several minutes)"
  bash "$here/k8s/build.sh" "$k8s_version" "$cache_root" >/dev/null
  say "kubernetes $k8s_version binaries in $dir"
}

if [[ "${1:-}" != "--k8s-only" ]]; then ensure_packages; fi
ensure_k8s
