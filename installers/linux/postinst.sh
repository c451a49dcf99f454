#!/bin/sh
# eidlink postinst (deb: configure; rpm: %post): Firefox PKCS#11 manifests
# for the card software installed now. The host manifests are package
# files; the policies are left to the administrator
# ("eidlink install --system --parts policies").
set -e
case "$1" in
configure | 1 | 2)
	/usr/bin/eidlink install --system --parts pkcs11 ||
		echo "eidlink: the Firefox card modules were not registered; run: sudo eidlink install --system --parts pkcs11" >&2
	;;
esac
exit 0
