#!/usr/bin/env bash
# make demo: the whole login flow on the virtual card, from the command
# line: create the card, start the demo site, fetch a challenge, sign it
# with `eidlink authenticate`, post the token and print the welcome line.
set -euo pipefail
bin=${BIN:-bin}
work=$(mktemp -d)
demo_pid=
trap '[ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; rm -rf "$work"' EXIT

eval "$("$bin/eidlink" testcard init --dir "$work/card" 2>/dev/null)"
"$bin/eidlink-demo" --ca "$work/card/ca.pem" --addr 127.0.0.1:0 --cert-out "$work/tls.pem" >"$work/site.log" 2>&1 &
demo_pid=$!
for _ in $(seq 100); do grep -q serving "$work/site.log" && break; sleep 0.1; done
origin=$(sed -n 's/^eidlink-demo: serving //p' "$work/site.log")
[ -n "$origin" ] || { cat "$work/site.log"; echo "demo: the demo site did not start"; exit 1; }
echo "demo: site $origin, virtual CIE of MARIO ROSSI"

start=$(date +%s%N)
curl_() { curl -sS --fail-with-body --cacert "$work/tls.pem" -b "$work/jar" -c "$work/jar" "$@"; }
nonce=$(curl_ -X POST "$origin/api/challenge" | sed -n 's/.*"nonce":"\([^"]*\)".*/\1/p')
echo 12345678 | "$bin/eidlink" authenticate --origin "$origin" --nonce "$nonce" >"$work/token.json" 2>/dev/null
welcome=$(curl_ -X POST -H 'Content-Type: application/json' --data-binary @"$work/token.json" "$origin/api/login" |
  sed -n 's/.*"welcome":"\([^"]*\)".*/\1/p')
[ -n "$welcome" ] || { echo "demo: login failed"; exit 1; }
echo "$welcome"
echo "demo: login in $(( ($(date +%s%N) - start) / 1000000 )) ms"
