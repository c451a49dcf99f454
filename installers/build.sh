#!/usr/bin/env bash
# installers/build.sh TARGET...: build eidlink's release artifacts in $OUT.
#
# Targets:
#   linux      bin for linux/amd64 and eidlink's PKCS#11 module ($BUILD/linux-amd64)
#   windows    bin for windows/amd64 and the module, cross-built with mingw ($BUILD/windows-amd64)
#   msi        $OUT/eidlink-$VERSION-x64.msi, signed
#   deb rpm    $OUT/eidlink_$VERSION-1_amd64.deb, $OUT/eidlink-$VERSION-1.x86_64.rpm
#   tarball    $OUT/eidlink-$VERSION-linux-amd64.tar.gz
#   extension  $OUT/eidlink-$VERSION-chrome.zip and -firefox.xpi (the extension's own build)
#   dist       all of the above and $OUT/SHA256SUMS
#
# Variables: VERSION (default: internal/protocol/version.go), OUT (dist), BUILD
# (build), SOURCE_DATE_EPOCH (default: the last commit's time; every
# artifact is reproducible from it), SIGN_CERT and SIGN_KEY (PEM files that
# sign the MSI; without them a test certificate made in $BUILD/sign does).
# Needs: go, x86_64-w64-mingw32-gcc, wixl, msitools, osslsigncode, faketime,
# openssl, npm (extension).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(sed -n 's/^var Version = "\(.*\)"$/\1/p' internal/protocol/version.go)}
OUT=${OUT:-dist}
BUILD=${BUILD:-build}
GO=${GO:-go}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1700000000)}
export SOURCE_DATE_EPOCH
LDFLAGS="-s -w -buildid= -X github.com/eidlink/eidlink/internal/protocol.Version=$VERSION"
NFPM=(env GOFLAGS= "$GO" run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2)
mkdir -p "$OUT" "$BUILD"

say() { echo "build: $*" >&2; }

linux() {
	say "linux/amd64 binaries"
	CGO_ENABLED=1 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/linux-amd64/" ./cmd/eidlink
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/linux-amd64/" ./cmd/eidlink-host # static: no card code
	make -s BIN="$BUILD/linux-amd64" "$BUILD/linux-amd64/libeidlink-pkcs11.so" >&2
}

windows() {
	say "windows/amd64 binaries"
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc \
		"$GO" build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/windows-amd64/" ./cmd/eidlink
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$BUILD/windows-amd64/" ./cmd/eidlink-host
	make -s BIN="$BUILD/windows-amd64" "$BUILD/windows-amd64/eidlink-pkcs11.dll" >&2
}

# guid NAME: a GUID derived from NAME and the version, so that a rebuild
# gives the same MSI and every version a new ProductCode.
guid() {
	local h
	h=$(printf 'eidlink %s %s' "$1" "$VERSION" | sha256sum | tr a-f A-F)
	echo "${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}"
}

msi() {
	windows
	say "msi"
	local dir=$BUILD/msi msi=$OUT/eidlink-$VERSION-x64.msi
	rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/manifests"
	cp "$BUILD"/windows-amd64/eidlink.exe "$BUILD"/windows-amd64/eidlink-host.exe "$BUILD"/windows-amd64/eidlink-pkcs11.dll "$dir/bin/"
	cp manifest/windows/*.json "$dir/manifests/"
	cp installers/windows/eidlink.wxs "$dir/"
	find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	# wixl stamps the build time and a random package code: pin both.
	(cd "$dir" && faketime "@$SOURCE_DATE_EPOCH" wixl -a x64 -D Version="$VERSION" -D ProductCode="$(guid product)" \
		-D BinDir=bin -D ManifestDir=manifests -o eidlink.msi eidlink.wxs)
	# What wixl cannot write: component conditions, secure public
	# properties.
	local q=(
		"UPDATE \`Component\` SET \`Condition\` = 'FORCEINSTALL_EXTENSION = \"1\"' WHERE \`Component\` = 'cmpForceChromium' OR \`Component\` = 'cmpForceFirefox'"
		"UPDATE \`Component\` SET \`Condition\` = 'AUTOSELECT_CERTIFICATE = \"1\"' WHERE \`Component\` = 'cmpAutoSelectChromium'"
		"UPDATE \`Property\` SET \`Value\` = 'WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;FORCEINSTALL_EXTENSION;AUTOSELECT_CERTIFICATE;AUTOSELECT_FILTER;FORCELIST_INDEX;AUTOSELECT_INDEX1;AUTOSELECT_INDEX2;CHROME_UPDATE_URL;FIREFOX_INSTALL_URL' WHERE \`Property\` = 'SecureCustomProperties'"
	)
	for s in "${q[@]}"; do msibuild "$dir/eidlink.msi" -q "$s"; done
	msibuild "$dir/eidlink.msi" -s "eidlink $VERSION" eidlink "x64;1033" "{$(guid package)}"
	sign "$dir/eidlink.msi" "$msi"
	say "wrote $msi"
}

# sign IN OUT: Authenticode with SIGN_CERT/SIGN_KEY, or a test certificate.
sign() {
	local cert=${SIGN_CERT:-} key=${SIGN_KEY:-}
	if [ -z "$cert" ] || [ -z "$key" ]; then
		cert=$BUILD/sign/test-cert.pem key=$BUILD/sign/test-key.pem
		if [ ! -f "$cert" ]; then
			mkdir -p "$BUILD/sign"
			openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -keyout "$key" -out "$cert" \
				-subj "/CN=eidlink test signing/O=eidlink" \
				-addext "extendedKeyUsage=codeSigning" -addext "keyUsage=digitalSignature" 2>/dev/null
		fi
		say "signing with the TEST certificate $cert (set SIGN_CERT and SIGN_KEY for a real one)"
	fi
	rm -f "$2"
	osslsigncode sign -certs "$cert" -key "$key" -h sha256 -n eidlink -i https://eidlink.it \
		-time "$SOURCE_DATE_EPOCH" -in "$1" -out "$2" >/dev/null
}

# stage_linux: what the Linux packages carry besides the binaries.
stage_linux() {
	linux
	local stage=$BUILD/linux-stage bin=$BUILD/linux-amd64
	rm -rf "$stage" && mkdir -p "$stage/policies"
	cp manifest/policies/*.json "$stage/policies/"
	if ! "$bin/eidlink" service unit --systemd >"$stage/eidlink.service" 2>/dev/null; then
		say "WARNING: \"eidlink service unit --systemd\" failed: the package carries a placeholder unit"
		cat >"$stage/eidlink.service" <<-'EOF'
			# Placeholder: "eidlink service unit --systemd" renders the real unit.
			[Unit]
			Description=eidlink: CIE and CNS cards for the browsers

			[Service]
			ExecStart=/usr/bin/eidlink service run

			[Install]
			WantedBy=default.target
		EOF
	fi
}

pkg() { # pkg deb|rpm
	say "$1"
	VERSION=$VERSION BIN=$BUILD/linux-amd64 STAGE=$BUILD/linux-stage \
		"${NFPM[@]}" pkg --config installers/linux/nfpm.yaml --packager "$1" --target "$OUT/" >/dev/null
}

tarball() {
	linux
	say "tarball"
	local name=eidlink-$VERSION-linux-amd64
	tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--transform "s,^,$name/," -C "$BUILD/linux-amd64" -cf - eidlink eidlink-host libeidlink-pkcs11.so |
		gzip -9n >"$OUT/$name.tar.gz"
}

extension() {
	say "extension"
	# npm ci on a fresh tree; an existing node_modules (a developer's) is kept.
	(cd extension && { [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null; } && npm run build >/dev/null)
	cp extension/dist/eidlink-chrome.zip "$OUT/eidlink-$VERSION-chrome.zip"
	cp extension/dist/eidlink-firefox.xpi "$OUT/eidlink-$VERSION-firefox.xpi"
}

sums() {
	(cd "$OUT" && rm -f SHA256SUMS && sha256sum -- * >SHA256SUMS)
	say "wrote $OUT/SHA256SUMS"
}

[ $# -gt 0 ] || { sed -n '2,/^set /p' "$0" | sed '$d'; exit 2; }
for target; do
	case $target in
	linux | windows | msi | tarball | extension) "$target" ;;
	deb | rpm) stage_linux && pkg "$target" ;;
	dist) msi && stage_linux && pkg deb && pkg rpm && tarball && extension && sums ;;
	*) echo "build: unknown target $target" >&2; exit 2 ;;
	esac
done
