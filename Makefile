# eidlink. `make demo` and `make test` work on a fresh Debian 12 machine:
# they install what they need (as root) through `make deps`.

SHELL      := /bin/bash
GO         ?= go
VERSION    ?= 0.1.0
GOFLAGS    ?= -trimpath
LDFLAGS    := -s -w -X github.com/eidlink/eidlink/internal/protocol.Version=$(VERSION)
BIN        := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME   ?= 5s

# Debian packages for building and testing: git and the CA certificates
# for Go modules, PC/SC with the virtual reader, SoftHSM2 and OpenSC as
# real PKCS#11 modules, the browsers for e2e. .ci/run installs them
# through `make deps` too: this is the one list.
DEBS := git ca-certificates procps gcc make curl pkg-config libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools \
        softhsm2 opensc chromium firefox-esr libnss3-tools faketime wixl msitools \
        osslsigncode gcc-mingw-w64-x86-64 libarchive-tools unzip shellcheck python3 openssl systemd redis-server

# Node: the extension's tools need the version in extension/package.json's
# "engines", newer than Debian 12's nodejs (18). When the node on PATH is
# older, make deps installs this release with npm from the npm registry
# (the package node-linux-<arch> carries the official build) into
# /usr/local, ahead of /usr/bin on PATH: the release our machines come
# with, so that a fresh machine runs what CI runs. (Node 22 would need
# `node --test test/` changed: it no longer takes a directory.)
NODE_VERSION := 20.20.2

# package:FuzzTarget pairs run briefly by `make test`.
FUZZ := internal/nativemsg:FuzzRead internal/protocol:FuzzParseRequest internal/webinput:FuzzCheckJSONKeys \
        internal/command:FuzzServeStream relyingparty:FuzzParseToken relyingparty:FuzzFlatFields relyingparty:FuzzVerify \
        internal/cryptoki:FuzzConfig internal/eidcert:FuzzHolderOf \
        internal/card:FuzzIdentify internal/iasecc:FuzzUnprotect internal/iasecc:FuzzReadTLV internal/virtualcard:FuzzProcess internal/install:FuzzParseNSSModules internal/install:FuzzParseRemember \
        internal/p11wire:FuzzParseRequest internal/p11wire:FuzzParseResponse internal/ipc:FuzzFrames

.PHONY: all build deps pcscd test gotest lint fuzz bench demo demo-ui demo-tls e2e clean extension extension-dist msi deb rpm dist package-test pkcs11

all: build

# eidlink-host is a static pure-Go relay (no cgo: it never touches a card).
build: pkcs11
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/ $$($(GO) list ./cmd/... | grep -v '/cmd/eidlink-host$$')
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/eidlink-host

# eidlink's PKCS#11 module for the browsers (pkcs11/README.md): C11, libc
# and pthreads only. The Linux .so and the Windows .dll (mingw); a macOS
# .dylib builds from the same files with platform_unix.c (see the README).
# Its tests (pkcs11/internal/moduletest, part of gotest) build their own sanitized
# copies.
PKCS11_SRC    := pkcs11/module.c pkcs11/wire.c pkcs11/ws.c
PKCS11_DEPS   := $(PKCS11_SRC) $(wildcard pkcs11/*.h)
PKCS11_CFLAGS := -std=c11 -O2 -s -Wall -Wextra -Wno-unused-parameter -Werror -fvisibility=hidden -ffile-prefix-map=$(CURDIR)=.

pkcs11: $(BIN)/libeidlink-pkcs11.so $(BIN)/eidlink-pkcs11.dll

$(BIN)/libeidlink-pkcs11.so: $(PKCS11_DEPS) pkcs11/platform_unix.c
	@mkdir -p $(BIN)
	$(CC) $(PKCS11_CFLAGS) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC -shared -Wl,-z,relro,-z,now,-z,defs -o $@ $(PKCS11_SRC) pkcs11/platform_unix.c -lpthread

$(BIN)/eidlink-pkcs11.dll: $(PKCS11_DEPS) pkcs11/platform_windows.c
	@mkdir -p $(BIN)
	x86_64-w64-mingw32-gcc $(PKCS11_CFLAGS) -shared -static-libgcc -Wl,--no-insert-timestamp,--disable-auto-image-base -o $@ $(PKCS11_SRC) pkcs11/platform_windows.c -lws2_32 -lbcrypt

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root, or: sudo apt-get install -y" $$missing; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v npm >/dev/null || { echo "make deps: installing npm"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	@want=$$(sed -n 's/^ *"node": ">=\([0-9.]*\)".*/\1/p' extension/package.json); \
	new_enough() { v=$$(node -p process.versions.node 2>/dev/null) && [ "$$(printf '%s\n' "$$want" "$$v" | sort -V | head -1)" = "$$want" ]; }; \
	if ! new_enough; then \
	  case $$(dpkg --print-architecture) in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) arch=unsupported ;; esac; \
	  echo "make deps: node $$(node --version 2>/dev/null || echo missing) is older than $$want: installing Node $(NODE_VERSION) (node-linux-$$arch)"; \
	  npm install -g --no-audit --no-fund node-linux-$$arch@$(NODE_VERSION) >/dev/null; hash -r; \
	fi; \
	new_enough || { echo "make deps: the extension needs Node >= $$want; node on PATH: $$(command -v node) $$(node --version 2>/dev/null)"; exit 1; }

# pcscd with the vpcd virtual readers; there is no systemd on our machines.
pcscd: deps
	@if ! pgrep -x pcscd >/dev/null; then \
	  mkdir -p /run/pcscd && pcscd; \
	fi
	@for i in $$(seq 100); do [ -S /run/pcscd/pcscd.comm ] && exit 0; sleep 0.1; done; \
	  echo "pcscd did not start"; exit 1

# make test runs every tier (see README, Development): a missing
# requirement fails instead of skipping, and the tests that change the
# machine (a system service, the deb installed and purged) run too.
test: export EIDLINK_TEST_STRICT := 1
test: export EIDLINK_TEST_DESTRUCTIVE := 1
test: deps pcscd build lint gotest fuzz extension e2e package-test

extension/node_modules/.package-lock.json: extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund

extension-dist: deps extension/node_modules/.package-lock.json
	cd extension && npm run build

# Headless Chromium and Firefox ESR against the demo site with the real
# eidlink-host on a SoftHSM2 card, and every error path through the mock host.
e2e: deps pcscd build extension-dist
	cd extension && EIDLINK_BIN=$(abspath $(BIN)) npm run e2e

# The WebExtension: Chrome and Firefox builds, zip and xpi, type check, unit
# tests, web-ext lint. Offline after npm ci.
extension: deps extension/node_modules/.package-lock.json
	cd extension && npm run build && npm run typecheck && npm test && npm run lint

lint:
	@out=$$(gofmt -l cmd internal relyingparty examples); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(GO) mod tidy -diff 2>&1) || { echo "go.mod/go.sum are not tidy: run go mod tidy"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

gotest:
	$(GO) test -race -count=1 ./...

fuzz:
	@set -e; for t in $(FUZZ); do \
	  echo "fuzz $${t#*:} ($(FUZZTIME))"; \
	  out=$$($(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) ./$${t%%:*} 2>&1) || { echo "$$out" | tail -30; exit 1; }; \
	done

# Benchmarks, printed side by side with the ratios that matter. Timings
# are measured here, never asserted in tests.
bench: deps pcscd build extension-dist
	@mkdir -p $(BIN); : > $(BIN)/bench.txt
	@b() { $(GO) test -run '^$$' -bench "$$2" -benchtime "$$3" -benchmem ./$$1 | grep '^Benchmark' | tee -a $(BIN)/bench.txt; }; \
	b cmd/eidlink-host 'ColdStart$$' 40x; \
	b internal/command 'Authenticate$$' 300x; \
	b internal/cryptoki 'RawSign$$' 300x; \
	b relyingparty 'Verify$$|RawRSAVerify$$|TwoRSAVerify$$|VerifyVsTwoRSA$$' 2000x; \
	b relyingparty 'NonceStores$$' 1x; \
	b internal/service 'ServiceAuthenticate$$' 20x; \
	b internal/service 'ServiceRSS$$' 1x; \
	b internal/pcsc 'InsertEvent$$' 10x; \
	b internal/pcsc 'Transmit' 200x; \
	b internal/cie 'CIE$$' 20x; \
	b pkcs11/internal/moduletest 'TrustLookup$$|SlotList$$|Sign$$' 2000x; \
	b internal/tlsauth 'CardSign$$|ModuleSign$$|ModuleQuery$$|ModuleNoop$$|ReplicaLoadCard$$|ReplicaLoadModule$$' 300x
	@awk '{ sub(/-[0-9]+$$/, "", $$1); ns[$$1] = $$3; \
	    for (i = 4; i < NF; i++) if ($$(i+1) !~ /^(B|allocs)\/op$$/ && $$i ~ /^[0-9.]+$$/) { extra[++n] = sprintf("%-58s %10s %s", $$1, $$i, $$(i+1)); med[$$1, $$(i+1)] = $$i } } \
	  function r(a, b, what) { if (ns[a] && ns[b]) printf "  %-58s %6.2fx\n", what, ns[a] / ns[b] } \
	  END { print "\neidlink benchmarks (ratios: lower is better)"; \
	    printf "  %-58s %6.2f ms\n", "host cold start to first message (median of 40 spawns)", med["BenchmarkColdStart", "median-ms"]; \
	    printf "  %-58s %6.2fx\n", "P1: host / minimal static Go, same first message (goal 1.3)", med["BenchmarkColdStart", "host/minimal"]; \
	    printf "  %-58s %6.2f MB\n", "P1: relaying host RSS after a login (goal 6)", med["BenchmarkServiceRSS", "KiB-host-relay"] / 1024; \
	    r("BenchmarkAuthenticate", "BenchmarkRawSign", "in-process authenticate / bare PKCS#11 sign (SoftHSM2)"); \
	    r("BenchmarkVerify", "BenchmarkRawRSAVerify", "token verification / bare rsa.VerifyPKCS1v15"); \
	    r("BenchmarkVerify", "BenchmarkTwoRSAVerify", "token verification / its two bare RSA verifications"); \
	    printf "  %-58s %6.2fx\n", "the same, in turns, ratio of medians (VerifyVsTwoRSA)", med["BenchmarkVerifyVsTwoRSA", "verify/two-rsa"]; \
	    printf "  %-58s %6.2fx\n", "logins/s: 2 verifiers sharing Redis / 1 in-memory, >= 1.6", med["BenchmarkNonceStores", "redis2/memory1"]; \
	    print "    each a process pinned to a core of its own, GOMAXPROCS=1,"; \
	    print "    32 logins at a time; redis-server on the same 2 cores;"; \
	    printf "    median of 5 rounds, the lowest %.2fx\n", med["BenchmarkNonceStores", "redis2/memory1-min"]; \
	    printf "  %-58s %6.2fx\n", "  ceiling of this machine: 2 in-memory verifiers / 1", med["BenchmarkNonceStores", "memory2/memory1"]; \
	    printf "  %-58s %6.2fx\n", "the same by CPU time, redis-server included (higher)", med["BenchmarkNonceStores", "redis2/memory1-cpu"]; \
	    printf "  %-58s %6.2f\n", "  CPU other processes took meanwhile, in cores (quiet: ~0)", med["BenchmarkNonceStores", "other-cores"]; \
	    printf "  %-58s %6d\n", sprintf("nonces accepted twice in %d concurrent replays", med["BenchmarkNonceStores", "replays"]), med["BenchmarkNonceStores", "replays-accepted"]; \
	    printf "  %-58s %6.2f ms\n", "login through the service (host spawn to quit)", med["BenchmarkServiceAuthenticate", "ms/login"]; \
	    printf "  %-58s %6.2f ms\n", "card inserted -> event delivered (median, vpcd polls)", med["BenchmarkInsertEvent", "ms-median"]; \
	    printf "  %-58s %6.3f ms\n", "APDU round trip through pcscd (virtual card, QUICKACK)", ns["BenchmarkTransmit/quickack"] / 1e6; \
	    r("BenchmarkTransmit/no-quickack", "BenchmarkTransmit/quickack", "APDU round trip without / with TCP_QUICKACK"); \
	    printf "  %-58s %3d / %d\n", "native CIE: APDUs, first login / middleware (match+session+login)", med["BenchmarkCIE", "first-login-apdus"], 35; \
	    printf "  %-58s %3d / %d\n", "native CIE: APDUs, login (cached, after the cert read) / middleware", med["BenchmarkCIE", "login-apdus"], 20; \
	    printf "  %-58s %3d / %d\n", "native CIE: APDUs, each further signature / middleware", med["BenchmarkCIE", "sign-apdus"], 19; \
	    printf "  %-58s %6.2f ms\n", "native CIE: login (domain cached), virtual CIE", med["BenchmarkCIE", "login-ms"]; \
	    printf "  %-58s %6.2f ms\n", "native CIE: each further signature, virtual CIE", ns["BenchmarkCIE"] / 1e6; \
	    printf "  %-58s %6.2f us\n", "PKCS#11 module: NSS trust lookup, answered locally", ns["BenchmarkTrustLookup"] / 1e3; \
	    printf "  %-58s %6.3f ms\n", "PKCS#11 module: slot list refresh (service round trip)", ns["BenchmarkSlotList"] / 1e6; \
	    printf "  %-58s %6.3f ms\n", "PKCS#11 module: C_Sign through the service (fake, ECDSA)", ns["BenchmarkSign"] / 1e6; \
	    r("BenchmarkModuleSign", "BenchmarkCardSign", "PKCS#11 module: signature via the service / from SoftHSM2"); \
	    printf "  %-58s %6.3f ms\n", "  the same, time added (goal: at most 1.3x plus 1 ms)", (ns["BenchmarkModuleSign"] - ns["BenchmarkCardSign"]) / 1e6; \
	    r("BenchmarkModuleQuery", "BenchmarkModuleNoop", "PKCS#11 module: find object + get attribute / C_GetInfo"); \
	    r("BenchmarkReplicaLoadModule", "BenchmarkReplicaLoadCard", "mTLS replica page load: through eidlink module / card module"); \
	    print "\nall reported metrics:"; for (k = 1; k <= n; k++) print "  " extra[k] }' $(BIN)/bench.txt
	@cd extension && node e2e/bench.mjs | tee -a ../$(BIN)/bench.txt

# The whole login in headless Chromium: virtual card, demo site, extension,
# real host; prints the welcome line and saves bin/demo.png. demo-ui: the
# same in a visible browser, for a person to click through.
demo: deps pcscd build extension-dist
	@./cmd/eidlink-demo/demo.sh

demo-ui: deps pcscd build extension-dist
	@./cmd/eidlink-demo/demo.sh --ui

# A TLS client-certificate login (the CIE identity provider's replica) in
# headless Chromium through eidlink's PKCS#11 module, with no browser
# dialog; prints the welcome line, saves bin/demo-tls.png. Root.
demo-tls: deps pcscd build extension-dist
	@cd extension && EIDLINK_BIN=$(abspath $(BIN)) node e2e/demo-tls.mjs

# Packages: Windows MSI (wixl), deb and rpm (nfpm), the macOS tarball for
# pkgbuild, and dist/ with everything plus SHA256SUMS. Reproducible with
# SOURCE_DATE_EPOCH. package-test builds them and installs/purges the deb.
msi deb rpm dist:
	VERSION=$(VERSION) installers/build.sh $@

package-test: deps
	installers/test.sh

clean:
	rm -rf $(BIN) extension/dist build dist
