#!/usr/bin/env bash
# installers/test.sh [msi] [deb] [rpm] [macos]: build the packages and check
# them (default: all). msi: the tables, the embedded manifests, the
# signature, a bit-identical rebuild. deb: installs and purges the package
# with dpkg (root) and checks every file. rpm: the payload. macos: the pkg
# layout, the launchd plist, the scripts (shellcheck, and run against stubs).
# Ends with "packages: N passed, N failed, N skipped". The deb's install
# and purge change the machine: they run as root with
# EIDLINK_TEST_DESTRUCTIVE=1 (make test sets it), and skip otherwise
# (fail, under EIDLINK_TEST_STRICT=1, for want of root).
# Multi-step checks are single-quoted strings that check evals, so that
# their variables expand when they run.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
cd "$(dirname "$0")/.." || exit
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
export BUILD=${BUILD:-$tmp/build} SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
VERSION=$(sed -n 's/^var Version = "\(.*\)"$/\1/p' internal/protocol/version.go)
export VERSION
passed=0 failed=0 skipped=0

check() { # check DESCRIPTION COMMAND...: one test
	if "${@:2}" >"$tmp/check.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1"
		sed 's/^/     /' "$tmp/check.log" | tail -20
	fi
}
skip() { # skip REASON: a check that cannot run here, and why
	skipped=$((skipped + 1))
	echo "skip $1"
}
missing() { # missing WHAT: skip, or fail under EIDLINK_TEST_STRICT=1
	if [ "${EIDLINK_TEST_STRICT:-}" = 1 ]; then
		check "$1 (EIDLINK_TEST_STRICT=1)" false
	else
		skip "$1"
	fi
}
has() { grep -qF -- "$2" <<<"$1" || { echo "missing: $2"; return 1; }; }
build() { # build OUT TARGET...
	OUT=$1 installers/build.sh "${@:2}" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; return 1; }
}

test_msi() {
	local msi=$tmp/msi1/eidlink-$VERSION-x64.msi
	check "msi: builds" build "$tmp/msi1" msi || return
	local t
	t=$(for table in File Registry Component Property Directory Upgrade InstallExecuteSequence; do
		msiinfo export "$msi" "$table"
	done)
	check "msi: files in Program Files" eval 'for s in "filEidlink	cmpEidlink	eidlink.exe" "filHost	cmpHost	eidlink-host.exe" "it.eidlink.host.chrome.json" "it.eidlink.host.firefox.json" "eidlink.json" "eidlink-pkcs11.dll" "INSTALLDIR	ProgramFiles64Folder	eidlink"; do has "$t" "$s" || return 1; done'
	check "msi: native hosts for Chrome, Edge, Chromium, Brave, Firefox" eval 'for k in "Software\Google\Chrome\NativeMessagingHosts\it.eidlink.host		[#filChromeHost]" "Software\Microsoft\Edge\NativeMessagingHosts\it.eidlink.host		[#filChromeHost]" "Software\Chromium\NativeMessagingHosts\it.eidlink.host" "Software\BraveSoftware\Brave-Browser\NativeMessagingHosts\it.eidlink.host" "Software\Mozilla\NativeMessagingHosts\it.eidlink.host		[#filFirefoxHost]"; do has "$t" "	2	$k" || return 1; done'
	check "msi: Firefox PKCS11Modules: eidlink's module, no card software's" eval 'has "$t" "	2	Software\Mozilla\PKCS11Modules\eidlink		[#filPkcs11]" && ! has "$t" "PKCS11Modules\eidlink_"'
	check "msi: installs no Windows service (the card service is each user's own)" eval 'for table in ServiceInstall ServiceControl; do [ "$(msiinfo export "$msi" $table | wc -l)" = 3 ] || { msiinfo export "$msi" $table; return 1; }; done'
	check "msi: policies behind their properties" eval 'has "$t" "cmpForceChromium	{7F619920-84F1-4B92-9FDC-2ABEDF4985D9}	INSTALLDIR	260	FORCEINSTALL_EXTENSION = \"1\"" && has "$t" "AUTOSELECT_CERTIFICATE = \"1\"	reg" && has "$t" "Software\Policies\Google\Chrome\ExtensionInstallForcelist	[FORCELIST_INDEX]	fcpomoebdkdilohgapefdlkccodebdef;[CHROME_UPDATE_URL]" && has "$t" "Software\Policies\Microsoft\Edge\AutoSelectCertificateForUrls	[AUTOSELECT_INDEX1]	[\{]\"pattern\":\"https://[\[]*.[\]]inps.it\",\"filter\":[AUTOSELECT_FILTER][\}]" && has "$t" "Software\Policies\Mozilla\Firefox	ExtensionSettings" && has "$t" "FORCEINSTALL_EXTENSION	0" && has "$t" "AUTOSELECT_CERTIFICATE	0"'
	check "msi: public properties are secure" has "$t" "SecureCustomProperties	WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;FORCEINSTALL_EXTENSION;AUTOSELECT_CERTIFICATE;AUTOSELECT_FILTER;"
	check "msi: major upgrade" eval 'has "$t" "{D9846B4E-8751-4FED-8EA7-F2DC18FBA81D}		$VERSION		1		WIX_UPGRADE_DETECTED" && has "$t" RemoveExistingProducts'
	check "msi: embedded manifests are manifest/windows" eval '(cd "$tmp" && msiextract -C x "$msi" >/dev/null) && for f in manifest/windows/*.json; do cmp "$f" "$(find "$tmp/x" -name "$(basename "$f")")" || return 1; done'
	check "msi: Authenticode signature verifies" eval 'osslsigncode verify -CAfile "$BUILD/sign/test-cert.pem" -in "$msi" | grep -q "Signature verification: ok"'
	check "msi: a rebuild is bit-identical" eval 'build "$tmp/msi2" msi && cmp "$msi" "$tmp/msi2/eidlink-$VERSION-x64.msi"'
}

# watched: the state of every place the deb touches, to compare before and after.
watched() {
	find /usr/bin/eidlink* /etc/opt /etc/chromium /etc/firefox /usr/lib/mozilla /usr/lib64 \
		/usr/lib/systemd/user /etc/systemd/user /usr/share/eidlink /var/lib/eidlink -printf '%M %u %p\n' 2>/dev/null | sort
	return 0
}

# The directories the deb writes into that other software shares: the
# deb must leave them as it found them, empty ones included.
shared_dirs=(/etc/opt /etc/chromium /etc/firefox /usr/lib/mozilla /usr/lib64/mozilla)

test_deb() {
	local deb=$tmp/deb1/eidlink_${VERSION}-1_amd64.deb
	check "deb: builds" build "$tmp/deb1" deb || return
	check "deb: a rebuild is bit-identical" eval 'build "$tmp/deb2" deb && cmp "$deb" "$tmp/deb2/$(basename "$deb")"'
	check "deb: depends on pcscd" eval 'dpkg-deb -f "$deb" Depends | grep -qx pcscd'
	check "deb: owns no directory it shares with other software" eval '! dpkg-deb -c "$deb" | awk '"'"'{print substr($6, 2)}'"'"' | grep -E "^($(IFS="|"; echo "${shared_dirs[*]}"))/"'
	if [ "${EIDLINK_TEST_DESTRUCTIVE:-}" != 1 ]; then
		skip "deb: install and purge change the machine: they run with EIDLINK_TEST_DESTRUCTIVE=1 (make test sets it)"
		return
	fi
	if [ "$(id -u)" != 0 ]; then
		missing "deb: install and purge need root"
		return
	fi
	deb_cycle "$deb" "as the machine is" || return
	# The shared directories there and empty beforehand (on Debian,
	# base-files makes an empty /etc/opt): purging must not take them.
	local made=()
	for d in "${shared_dirs[@]}"; do
		[ -e "$d" ] || { mkdir "$d" && made+=("$d"); }
	done
	deb_cycle "$deb" "with ${made[*]:-the shared directories} made empty beforehand"
	for ((i = ${#made[@]} - 1; i >= 0; i--)); do [ ! -d "${made[i]}" ] || rmdir "${made[i]}"; done
}

# deb_cycle DEB LABEL: install, use and purge the deb; the machine is as
# it was before.
deb_cycle() {
	local deb=$1 files
	echo "deb: install and purge, $2"
	files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}')
	check "deb: eidlink is not installed yet, none of its files exist" eval '! dpkg -s eidlink >/dev/null 2>&1 && for f in $files; do [ ! -e "$f" ] || { echo "$f exists"; return 1; }; done' || return
	watched >"$tmp/before"
	check "deb: dpkg -i" dpkg -i "$deb"
	check "deb: every file installed with its mode" eval 'dpkg-deb -c "$deb" | awk '"'"'$1 !~ /^d/ {print $1, substr($6, 2)}'"'"' | while read -r mode f; do [ "$(stat -c %A "$f")" = "$mode" ] || { echo "$f: $(stat -c %A "$f"), want $mode"; exit 1; }; done'
	check "deb: postinst wrote the host manifests for /usr/bin/eidlink-host" eval 'for f in /etc/opt/chrome/native-messaging-hosts/it.eidlink.host.json /etc/chromium/native-messaging-hosts/it.eidlink.host.json /etc/opt/edge/native-messaging-hosts/it.eidlink.host.json; do grep -q "\"path\": \"/usr/bin/eidlink-host\"" "$f" && grep -q "chrome-extension://fcpomoebdkdilohgapefdlkccodebdef/" "$f" || return 1; done; grep -q "eidlink@eidlink.it" /usr/lib/mozilla/native-messaging-hosts/it.eidlink.host.json'
	check "deb: eidlink runs and has the version" eval '[ "$(/usr/bin/eidlink version)" = "$VERSION" ]'
	check "deb: each user's own service, enabled for every user" eval 'grep -qx "ExecStart=/usr/bin/eidlink service run" /usr/lib/systemd/user/eidlink.service && [ "$(readlink /etc/systemd/user/default.target.wants/eidlink.service)" = /usr/lib/systemd/user/eidlink.service ] && [ "$(systemctl --global is-enabled eidlink.service)" = enabled ]'
	check "deb: postinst wrote the Firefox PKCS#11 manifest for eidlink's module, none for the card software" eval 'grep -q "\"path\": \"/usr/lib/eidlink/libeidlink-pkcs11.so\"" /usr/lib/mozilla/pkcs11-modules/eidlink.json && ! ls /usr/lib/mozilla/pkcs11-modules/eidlink_* 2>/dev/null'
	check "deb: the admin enables the policies" eval '/usr/bin/eidlink install --system --parts policies >/dev/null && grep -q "inps.it" /etc/opt/chrome/policies/managed/eidlink.json /etc/chromium/policies/managed/eidlink.json && grep -q "/usr/lib/eidlink/libeidlink-pkcs11.so" /etc/firefox/policies/policies.json && ! grep -q "Select Automatically" /etc/firefox/policies/policies.json'
	check "deb: dpkg -P" dpkg -P eidlink
	check "deb: purge leaves the system as it was" eval 'watched | diff "$tmp/before" - && [ ! -e /etc/opt/chrome/policies/managed/eidlink.json ] && [ ! -e /etc/firefox/policies/policies.json ]'
}

test_rpm() {
	local rpm=$tmp/rpm1/eidlink-$VERSION-1.x86_64.rpm
	check "rpm: builds" build "$tmp/rpm1" rpm deb || return
	check "rpm: a rebuild is bit-identical" eval 'build "$tmp/rpm2" rpm && cmp "$rpm" "$tmp/rpm2/$(basename "$rpm")"'
	check "rpm: carries the deb's files" eval 'diff <(bsdtar -tf "$rpm" | sed "s,^\./,/," | grep -v "/$" | sort) <(dpkg-deb -c "$tmp/rpm1/eidlink_${VERSION}-1_amd64.deb" | awk '"'"'$1 !~ /^d/ {print substr($6, 2)}'"'"' | sort)'
}

test_macos() {
	local d=$tmp/mac
	check "macos: lays out the package" eval 'build "$tmp/macbin" linux && cp "$BUILD/linux-amd64/libeidlink-pkcs11.so" "$BUILD/linux-amd64/libeidlink-pkcs11.dylib" && installers/macos/build-pkg.sh --layout "$d" "$BUILD/linux-amd64"'
	check "macos: payload" eval '[ "$(cd "$d/root" && find . -type f | sort | tr "\n" " ")" = "./Library/LaunchAgents/eidlink.plist ./usr/local/bin/eidlink ./usr/local/bin/eidlink-host ./usr/local/lib/eidlink/libeidlink-pkcs11.dylib ./usr/local/share/eidlink/uninstall.sh " ] && [ -x "$d/scripts/postinstall" ] && [ -x "$d/scripts/preinstall" ]'
	check "macos: launchd agent runs eidlink service run" python3 -c '
import plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))
assert p["Label"] == "eidlink", p
assert p["ProgramArguments"] == ["/usr/local/bin/eidlink", "service", "run"], p
assert p["RunAtLoad"] is True' "$d/root/Library/LaunchAgents/eidlink.plist"
	check "macos: distribution names the component and version" python3 -c '
import sys, xml.dom.minidom as m
doc = m.parse(sys.argv[1])
refs = [r for r in doc.getElementsByTagName("pkg-ref") if r.getAttribute("version")]
assert refs[0].getAttribute("version") == sys.argv[2] and refs[0].firstChild.data == "eidlink-component.pkg"' "$d/distribution.xml" "$VERSION"
	check "macos: scripts pass shellcheck" shellcheck installers/macos/build-pkg.sh installers/macos/uninstall.sh installers/macos/scripts/*
	# The scripts against stubs: eidlink, stat, id and launchctl log their calls.
	mkdir -p "$tmp/stubs" "$d/root/usr/local/bin"
	for c in stat id launchctl pkgutil; do
		printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$tmp" >"$tmp/stubs/$c"
	done
	printf '#!/bin/sh\necho "eidlink $*" >>"%s/calls"\n' "$tmp" >"$d/root/usr/local/bin/eidlink"
	printf '#!/bin/sh\necho "stat $*" >>"%s/calls"\necho alice\n' "$tmp" >"$tmp/stubs/stat"
	printf '#!/bin/sh\necho "id $*" >>"%s/calls"\necho 501\n' "$tmp" >"$tmp/stubs/id"
	chmod +x "$tmp"/stubs/* "$d/root/usr/local/bin/eidlink"
	check "macos: postinstall writes the manifests and starts the agent" eval 'rm -f "$tmp/calls"; PATH="$tmp/stubs:$PATH" "$d/scripts/postinstall" pkg /dest "$d/root/" / && diff - "$tmp/calls" <<-EOF
		eidlink install --system
		stat -f%Su /dev/console
		id -u alice
		launchctl bootout gui/501/eidlink
		launchctl bootstrap gui/501 $d/root/Library/LaunchAgents/eidlink.plist
	EOF'
	check "macos: uninstall.sh reverts and removes everything" eval 'rm -f "$tmp/calls"; printf "#!/bin/sh\necho 0\n" >"$tmp/stubs/id"; EIDLINK_ROOT="$d/root" PATH="$tmp/stubs:$PATH" "$d/root/usr/local/share/eidlink/uninstall.sh" && grep -qx "eidlink uninstall --system" "$tmp/calls" && grep -qx "pkgutil --forget it.eidlink.pkg" "$tmp/calls" && [ -z "$(find "$d/root" -type f)" ]'
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(msi deb rpm macos)
for t in "${targets[@]}"; do
	case $t in
	msi | deb | rpm | macos) "test_$t" ;;
	*) echo "test: unknown target $t" >&2; exit 2 ;;
	esac
done
echo "packages: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
