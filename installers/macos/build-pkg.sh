#!/usr/bin/env bash
# installers/macos/build-pkg.sh: eidlink-$VERSION.pkg for macOS 11+ (arm64
# and x86_64), built on a Mac with Go and the Xcode command line tools:
#
#   installers/macos/build-pkg.sh                 binaries, component and product package in $OUT
#   installers/macos/build-pkg.sh --layout DIR BIN
#                                                 only lay out the payload, scripts and distribution
#                                                 in DIR from the binaries in BIN (any OS; tests)
#
# The package installs /usr/local/bin/eidlink and eidlink-host, eidlink's
# PKCS#11 module /usr/local/lib/eidlink/libeidlink-pkcs11.dylib, the service
# agent /Library/LaunchAgents/eidlink.plist and
# /usr/local/share/eidlink/uninstall.sh; its postinstall runs
# "eidlink install --system" (manifests under /Library).
# Variables: VERSION, OUT (dist), MAC_APP_SIGN (a "Developer ID Application"
# identity: sign the binaries, hardened runtime), MAC_INSTALLER_SIGN (a
# "Developer ID Installer" identity: sign the package), NOTARY_PROFILE (a
# notarytool keychain profile: notarize and staple).
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${VERSION:-$(sed -n 's/^var Version = "\(.*\)"$/\1/p' internal/protocol/version.go)}
OUT=${OUT:-dist}

layout() { # layout DIR BIN
	local dir=$1 bin=$2
	rm -rf "$dir"
	mkdir -p "$dir/root/usr/local/bin" "$dir/root/usr/local/lib/eidlink" "$dir/root/usr/local/share/eidlink" "$dir/root/Library/LaunchAgents" "$dir/scripts"
	install -m 0755 "$bin/eidlink" "$bin/eidlink-host" "$dir/root/usr/local/bin/"
	install -m 0644 "$bin/libeidlink-pkcs11.dylib" "$dir/root/usr/local/lib/eidlink/"
	"$bin/eidlink" service unit --launchd --exec /usr/local/bin/eidlink >"$dir/root/Library/LaunchAgents/eidlink.plist"
	chmod 0644 "$dir/root/Library/LaunchAgents/eidlink.plist"
	install -m 0755 installers/macos/uninstall.sh "$dir/root/usr/local/share/eidlink/"
	install -m 0755 installers/macos/scripts/preinstall installers/macos/scripts/postinstall "$dir/scripts/"
	sed "s/@VERSION@/$VERSION/" installers/macos/distribution.xml >"$dir/distribution.xml"
}

if [ "${1:-}" = --layout ]; then
	layout "$2" "$3"
	exit
fi
[ "$(uname)" = Darwin ] || { echo "build-pkg: pkgbuild and productbuild run on macOS only (--layout works anywhere)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ldflags="-s -w -buildid= -X github.com/eidlink/eidlink/internal/protocol.Version=$VERSION"
for arch in arm64 amd64; do
	carch=$arch
	[ "$arch" = amd64 ] && carch=x86_64
	GOOS=darwin GOARCH=$arch CGO_ENABLED=1 CC="clang -arch $carch" \
		go build -trimpath -ldflags "$ldflags" -o "$work/$arch/" ./cmd/eidlink
	# The host relays to the service and starts it from the same directory: pure Go.
	GOOS=darwin GOARCH=$arch CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/$arch/" ./cmd/eidlink-host
done
mkdir -p "$work/bin" "$OUT"
# eidlink's PKCS#11 module (pkcs11/README.md), universal.
cc -std=c11 -O2 -fvisibility=hidden -dynamiclib -arch arm64 -arch x86_64 -o "$work/bin/libeidlink-pkcs11.dylib" \
	pkcs11/module.c pkcs11/wire.c pkcs11/ws.c pkcs11/platform_unix.c
if [ -n "${MAC_APP_SIGN:-}" ]; then
	codesign --force --options runtime --timestamp --sign "$MAC_APP_SIGN" "$work/bin/libeidlink-pkcs11.dylib"
fi
for b in eidlink eidlink-host; do
	lipo -create "$work/arm64/$b" "$work/amd64/$b" -output "$work/bin/$b"
	if [ -n "${MAC_APP_SIGN:-}" ]; then
		codesign --force --options runtime --timestamp --sign "$MAC_APP_SIGN" "$work/bin/$b"
	fi
done
layout "$work/pkg" "$work/bin"
pkgbuild --root "$work/pkg/root" --scripts "$work/pkg/scripts" --identifier it.eidlink.pkg \
	--version "$VERSION" --install-location / "$work/pkg/eidlink-component.pkg"
pkg=$OUT/eidlink-$VERSION.pkg
productbuild --distribution "$work/pkg/distribution.xml" --package-path "$work/pkg" \
	${MAC_INSTALLER_SIGN:+--sign "$MAC_INSTALLER_SIGN"} "$pkg"
if [ -n "${NOTARY_PROFILE:-}" ]; then
	xcrun notarytool submit "$pkg" --keychain-profile "$NOTARY_PROFILE" --wait
	xcrun stapler staple "$pkg"
fi
echo "build-pkg: wrote $pkg"
