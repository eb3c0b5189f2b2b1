#!/usr/bin/env bash
# Signs the compiled agent with the Virtualization entitlements, then verifies the signature and
# shows the entitlements it carries (codesign -d --entitlements -). macOS only.
#
#   tools/macos/sign.sh [BINARY]        (deno task sign; BINARY defaults to dist/macos-vz-kubelet)
#       NAT guests: ad hoc (or $VZK_SIGN_IDENTITY) with resources/vz.entitlements.
#
#   VZK_SIGN_IDENTITY="Developer ID Application: Example (TEAMID)" \
#   VZK_PROVISIONING_PROFILE=path/to/macos-vz-kubelet.provisionprofile tools/macos/sign.sh
#       Bridged guests (VZ_BRIDGE_INTERFACE): com.apple.vm.networking is a restricted
#       entitlement that macOS honours only with a provisioning profile granting it, and a
#       profile can only be embedded in a bundle. So the binary is wrapped into
#       dist/macos-vz-kubelet.app (run Contents/MacOS/macos-vz-kubelet) and signed with
#       resources/bridged.entitlements plus the profile's application identifier.
#
# With a real identity the hardened runtime is on, which needs V8's JIT exceptions
# (resources/hardened-runtime.entitlements); ad hoc signatures go without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bin="${1:-dist/macos-vz-kubelet}"
identity="${VZK_SIGN_IDENTITY:--}"
profile="${VZK_PROVISIONING_PROFILE:-}"
buddy=/usr/libexec/PlistBuddy

die() { echo "sign.sh: $*" >&2; exit 1; }
[[ "$(uname -s)" == Darwin ]] || die "codesign needs macOS"
[[ -f "$bin" ]] || die "$bin not found: run ./deno.sh task build first"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
entitlements="$work/entitlements.plist"

# The entitlements to sign with: a base file, the JIT exceptions for the hardened runtime.
base=resources/vz.entitlements
[[ -n "$profile" ]] && base=resources/bridged.entitlements
cp "$base" "$entitlements"
options=()
if [[ "$identity" != "-" ]]; then
  "$buddy" -c "Merge resources/hardened-runtime.entitlements" "$entitlements" >/dev/null
  options=(--options runtime)
fi

# Shows and checks the signature of $1 and that it carries each entitlement named after it.
verify() {
  local target="$1"; shift
  codesign --verify --strict --verbose=2 "$target"
  local shown
  shown="$(codesign -d --entitlements - "$target" 2>/dev/null)"
  echo "$shown"
  for key in "$@"; do
    grep -q "$key" <<<"$shown" || die "$target is signed without $key"
  done
}

if [[ -z "$profile" ]]; then
  codesign --force --sign "$identity" ${options[@]+"${options[@]}"} --entitlements "$entitlements" "$bin"
  verify "$bin" com.apple.security.virtualization
  echo "sign.sh: signed $bin ($([[ $identity == - ]] && echo "ad hoc" || echo "$identity"))"
  exit 0
fi

# Bridged: a bundle carrying the provisioning profile.
[[ "$identity" != "-" ]] || die "a provisioning profile needs VZK_SIGN_IDENTITY (not ad hoc)"
[[ -f "$profile" ]] || die "provisioning profile $profile not found"
security cms -D -i "$profile" >"$work/profile.plist" || die "cannot read $profile"
"$buddy" -c "Print :Entitlements:com.apple.vm.networking" "$work/profile.plist" >/dev/null 2>&1 ||
  die "$profile does not grant com.apple.vm.networking (ask Apple for it; see README)"
app_id="$("$buddy" -c "Print :Entitlements:com.apple.application-identifier" "$work/profile.plist")"
team_id="$("$buddy" -c "Print :Entitlements:com.apple.developer.team-identifier" "$work/profile.plist")"
bundle_id="${app_id#"$team_id".}"
"$buddy" -c "Add :com.apple.application-identifier string $app_id" "$entitlements"
"$buddy" -c "Add :com.apple.developer.team-identifier string $team_id" "$entitlements"

app="$(dirname "$bin")/macos-vz-kubelet.app"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS"
cp "$bin" "$app/Contents/MacOS/macos-vz-kubelet"
cp "$profile" "$app/Contents/embedded.provisionprofile"
cat >"$app/Contents/Info.plist" <<PLIST
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleIdentifier</key>
	<string>$bundle_id</string>
	<key>CFBundleExecutable</key>
	<string>macos-vz-kubelet</string>
	<key>CFBundleName</key>
	<string>macos-vz-kubelet</string>
	<key>CFBundlePackageType</key>
	<string>APPL</string>
	<key>CFBundleVersion</key>
	<string>$("$bin" version | awk '{print $2}')</string>
	<key>LSBackgroundOnly</key>
	<true/>
	<key>LSMinimumSystemVersion</key>
	<string>13.0</string>
</dict>
</plist>
PLIST
codesign --force --sign "$identity" ${options[@]+"${options[@]}"} --entitlements "$entitlements" "$app"
verify "$app" com.apple.security.virtualization com.apple.vm.networking
echo "sign.sh: signed $app for bundle id $bundle_id; run $app/Contents/MacOS/macos-vz-kubelet"
