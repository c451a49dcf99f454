#!/bin/sh
# eidlink prerm (deb: remove; rpm: %preun on erase, $1 = 0): revert what
# "eidlink install --system" recorded (host and PKCS#11 manifests,
# policies, the directories it created) while the binary is still there,
# and stop enabling the users' card service (the instances running end
# with their session). Upgrades keep both.
set -e
case "$1" in
remove | 0)
	/usr/bin/eidlink uninstall --system || true
	if command -v systemctl >/dev/null; then
		systemctl --global disable eidlink.service || true
	fi
	;;
esac
exit 0
