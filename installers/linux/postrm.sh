#!/bin/sh
# eidlink postrm (deb: purge; rpm: %postun on erase, $1 = 0): remove the
# install record.
set -e
case "$1" in
purge | 0)
	rm -rf /var/lib/eidlink
	;;
esac
exit 0
