#!/bin/sh
# eidlink prerm (deb: remove; rpm: %preun on erase, $1 = 0): revert what
# "eidlink install --system" recorded (PKCS#11 manifests, policies) while
# the binary is still there. Upgrades keep it.
set -e
case "$1" in
remove | 0)
	/usr/bin/eidlink uninstall --system || true
	;;
esac
exit 0
