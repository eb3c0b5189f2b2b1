#!/usr/bin/env bash
# Runs this project's pinned Deno (tools/deno/package.json), installing it first when needed, so that
# README's commands work on a machine that has only Node.js and npm, or only Deno.
#   ./deno.sh task test      ./deno.sh task start      ./deno.sh run -A main.ts --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pin_dir="$here/tools/deno"   # its package.json pins Deno; kept out of the root so that
                             # `deno task` does not mistake the repo for an npm project
pinned="$(sed -n 's/.*"deno": "\([0-9.]*\)".*/\1/p' "$pin_dir/package.json")"
local_deno="$pin_dir/node_modules/.bin/deno"

version_of() { "$1" --version 2>/dev/null | sed -n 's/^deno \([0-9.]*\).*/\1/p'; }

if [[ ! -x "$local_deno" || "$(version_of "$local_deno")" != "$pinned" ]]; then
  if command -v npm >/dev/null 2>&1; then
    echo "deno.sh: installing Deno $pinned from the npm registry" >&2
    (cd "$pin_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  elif command -v deno >/dev/null 2>&1; then
    have="$(version_of deno)"
    [[ "$have" == "$pinned" ]] || echo "deno.sh: warning: using Deno $have, project pins $pinned" >&2
    exec deno "$@"
  else
    echo "deno.sh: need Node.js with npm (to install Deno $pinned) or Deno itself on PATH" >&2
    exit 1
  fi
fi
# Tasks call `deno` by name: put the pinned one first on PATH.
export PATH="$pin_dir/node_modules/.bin:$PATH"
exec "$local_deno" "$@"
