#!/bin/sh
# Remove eidlink from this Mac: sudo /usr/local/share/eidlink/uninstall.sh
# (EIDLINK_ROOT, for tests, is where the installed system is.)
set -u
root=${EIDLINK_ROOT:-}
if [ "$(id -u)" != 0 ]; then
	echo "eidlink: run it as root: sudo $0" >&2
	exit 1
fi
user=$(stat -f%Su /dev/console 2>/dev/null) || user=
if [ -n "$user" ] && [ "$user" != root ]; then
	launchctl bootout "gui/$(id -u "$user")/eidlink" 2>/dev/null
fi
"$root/usr/local/bin/eidlink" uninstall --system
rm -f "$root/usr/local/bin/eidlink" "$root/usr/local/bin/eidlink-host" "$root/Library/LaunchAgents/eidlink.plist"
rm -rf "$root/usr/local/share/eidlink" "$root/usr/local/lib/eidlink" "$root/Library/Application Support/eidlink"
pkgutil --forget it.eidlink.pkg >/dev/null 2>&1
echo "eidlink: removed"
