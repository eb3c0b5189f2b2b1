#!/usr/bin/env bash
# Builds the pinned Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) from the Go modules of k8s.io/kubernetes into a cache directory
# outside the repository. Idempotent; two racing runs are serialised with flock and the
# finished directory appears with one atomic rename, so a reader never sees half a build.
#
# usage: build.sh VERSION CACHE_ROOT             the control plane into CACHE_ROOT/k8s-VERSION
#        build.sh VERSION CACHE_ROOT NAME CMD...  only k8s.io/kubernetes/cmd/CMD... (no etcd)
#                                                 into CACHE_ROOT/NAME-VERSION (bench: kubelet)
# Prints the directory holding the binaries.
set -euo pipefail

version="${1:?kubernetes version, e.g. v1.35.4}"
root="${2:?cache root}"
name="${3:-k8s}"
if (($# > 3)); then
  cmds=("${@:4}")
  bins=("${cmds[@]}")
else
  cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  bins=(etcd "${cmds[@]}")
fi
final="$root/$name-$version"

complete() {
  for b in "${bins[@]}"; do [[ -x "$final/$b" ]] || return 1; done
}

mkdir -p "$root"
if complete; then echo "$final"; exit 0; fi

exec 9>"$root/$name-$version.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi # macOS has no flock(1): no serialising
if complete; then echo "$final"; exit 0; fi

work="$(mktemp -d "$root/.k8s-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

# k8s.io/kubernetes points its staging modules at ./staging with replace directives, which
# `go install pkg@version` refuses. A throwaway module that requires it and maps every
# staging module to its published v0.x twin builds the same sources.
echo "build-k8s: fetching k8s.io/kubernetes@$version module graph" >&2
go mod download -json "k8s.io/kubernetes@$version" >dl.json
gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' dl.json)"
minor="v0.${version#v1.}"

{
  echo "module vzkubelet.local/k8sbuild"
  echo
  sed -n 's/^go \(.*\)$/go \1/p' "$gomod"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*$#\t\1 => \1 '"$minor"'#p' "$gomod"
  echo ")"
} >go.mod

{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import ("
  for cmd in "${cmds[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$cmd\""; done
  echo ")"
} >tools.go

want_etcd=false
[[ " ${bins[*]} " == *" etcd "* ]] && want_etcd=true
if $want_etcd; then
  mkdir -p etcd
cat >etcd/main.go <<'GO'
// etcd, built from the same module graph as the API server that talks to it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
fi

echo "build-k8s: resolving dependencies" >&2
if $want_etcd; then
  etcd_version="$(sed -n 's#^[[:space:]]*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$gomod")"
  GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$etcd_version" >&2
fi
GOFLAGS=-mod=mod go mod tidy >&2

mkdir -p out
for cmd in "${cmds[@]}"; do
  echo "build-k8s: building $cmd" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version" -o "out/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2
done
if $want_etcd; then
  echo "build-k8s: building etcd" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o out/etcd ./etcd >&2
fi

rm -rf "$final.tmp"
mv out "$final.tmp"
mv -T "$final.tmp" "$final"
echo "$final"
