#!/usr/bin/env bash
# make demo: the whole login in a browser: a virtual CIE (SoftHSM2), the
# demo site, headless Chromium with the extension and eidlink-host; the PIN
# is typed into eidlink's PIN window; prints the welcome line and the time
# taken, saves bin/demo.png. make demo-ui (--ui): the same in a visible
# browser, for a person to click through.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-bin}
for f in "$bin/eidlink" "$bin/eidlink-host" "$bin/eidlink-demo" extension/dist/chrome/manifest.json extension/node_modules/playwright-core/package.json; do
  [ -e "$f" ] || { echo "demo: $f is missing: run make build and make extension first"; exit 1; }
done
EIDLINK_BIN=$bin exec node extension/e2e/demo.mjs "$@"
