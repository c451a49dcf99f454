#!/bin/sh
# eidlink prerm (deb: remove; rpm: %preun on erase, $1 = 0): revert what
# "eidlink install --system" recorded (host and PKCS#11 manifests,
# policies, the directories it created) while
# the binary is still there. Upgrades keep it.
set -e
case "$1" in
remove | 0)
	/usr/bin/eidlink uninstall --system || true
	;;
esac
exit 0
