#!/bin/sh
# eidlink postinst (deb: configure; rpm: %post): the browsers' host
# manifests, the Firefox PKCS#11 manifest for eidlink's own module
# /usr/lib/eidlink/libeidlink-pkcs11.so (an upgrade removes what older
# versions registered for the card software's modules; "eidlink install
# --system" records what it writes and the directories it creates, for
# prerm), and each user's own card service:
# the systemd user unit, enabled for every user (it starts at each user's
# next login and serves only that user). The policies are left to the
# administrator ("eidlink install --system --parts policies").
set -e
case "$1" in
configure | 1 | 2)
	/usr/bin/eidlink install --system --host-path /usr/bin/eidlink-host --pkcs11-module /usr/lib/eidlink/libeidlink-pkcs11.so >/dev/null
	if command -v systemctl >/dev/null; then
		systemctl --global enable eidlink.service ||
			echo "eidlink: the card service was not enabled for the users; run: sudo systemctl --global enable eidlink.service" >&2
	fi
	;;
esac
exit 0
