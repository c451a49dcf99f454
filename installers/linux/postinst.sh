#!/bin/sh
# eidlink postinst (deb: configure; rpm: %post): the browsers' host
# manifests, and Firefox PKCS#11 manifests for the card software installed
# now ("eidlink install --system" records what it writes and the
# directories it creates, for prerm). The policies are left to the
# administrator ("eidlink install --system --parts policies").
set -e
case "$1" in
configure | 1 | 2)
	/usr/bin/eidlink install --system --host-path /usr/bin/eidlink-host >/dev/null
	;;
esac
exit 0
