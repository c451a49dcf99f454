// TLS logins that fail, in words: the browser's error code of a page load
// on a TLS-login host, read with the host's status (the service's last
// refused signature, the cards TLS 1.3 cannot use, the service itself),
// and the host port kept while such a site loads, which carries the
// service's PIN requests at signing time.

import assert from "node:assert/strict";
import { test } from "node:test";
import { NativeAppService, NativeState } from "../src/background/native.js";
import { KEEP_FOR, TlsWatch } from "../src/background/tls-watch.js";
import { translate } from "../src/shared/i18n.js";
import { browserError, classifyTlsError, diagnose, explainTls } from "../src/shared/tls-failure.js";
import { tlsLoginMatches } from "../src/shared/origin.js";
import { FakeClock, FakePort, until } from "./fakes.mjs";

const it = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("it", k, ...s);
const en = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("en", k, ...s);

const token = { module: "eidlink", slot: 1, label: "CIE", cardKind: "cie", holder: "MARIO ROSSI", hasAuthKey: true, hasSignKey: false, triesLeft: 3, pinLocked: false, pinpad: false, minPinLength: 8, maxPinLength: 8, pinPart: "full" };
/** @param {object} tls */
const status = (tls = {}) => ({ version: "0.1.0", mode: "service", tokens: [token], readers: [], tls: { unlocked: false, hosts: 1, startedAt: 1, ...tls } });

test("the browsers' TLS client-authentication errors, and only those, are eidlink's business", () => {
  for (const [error, kind] of /** @type {const} */ ([
    ["net::ERR_SSL_CLIENT_AUTH_NO_COMMON_ALGORITHMS", "algorithms"],
    ["NS_ERROR_GENERATE_FAILURE(NS_ERROR_MODULE_SECURITY, SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT)", "nocert13"],
    ["net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED", "signature"],
    ["SSL_ERROR_HANDSHAKE_FAILED", "signature"],
    ["net::ERR_BAD_SSL_CLIENT_AUTH_CERT", "nocert"],
    ["SSL_ERROR_HANDSHAKE_FAILURE_ALERT", "nocert"],
    ["SSL peer was unable to negotiate an acceptable set of security parameters.", "tls"],
    ["Il peer SSL non è stato in grado di negoziare un insieme accettabile di parametri di sicurezza.", "tls"],
    ["net::ERR_ABORTED", ""],
    ["NS_ERROR_CONNECTION_REFUSED", ""],
    ["NS_BINDING_ABORTED", ""],
    ["net::ERR_CONNECTION_REFUSED", ""],
    [undefined, ""],
  ])) {
    assert.equal(classifyTlsError(error), kind, String(error));
  }
  assert.equal(browserError("NS_ERROR_GENERATE_FAILURE(NS_ERROR_MODULE_SECURITY, SSL_ERROR_HANDSHAKE_FAILURE_ALERT)"), "SSL_ERROR_HANDSHAKE_FAILURE_ALERT");
  assert.equal(browserError("net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED"), "net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED");
});

test("why: the service's refusal during the load first, then TLS 1.3 with a PKCS#1-only card, the service, the card", () => {
  const since = 1_000_000;
  const removed = status({ lastRefusalCode: "ERR_EIDLINK_CARD_REMOVED", lastRefusalAt: since + 300, tls12Only: ["CIE di MARIO ROSSI"] });
  assert.deepEqual(diagnose("signature", removed, since, since + 500), { reason: "refused", code: "ERR_EIDLINK_CARD_REMOVED" });
  const old = status({ lastRefusalCode: "ERR_EIDLINK_CARD_REMOVED", lastRefusalAt: since - 60_000 });
  assert.deepEqual(diagnose("signature", old, since, since + 500), { reason: "service-stopped" }, "a refusal from before the load is another story");
  const pkcs1 = status({ tls12Only: ["CIE di MARIO ROSSI"] });
  assert.deepEqual(diagnose("algorithms", pkcs1, since, since + 500), { reason: "tls13", label: "CIE di MARIO ROSSI" });
  assert.deepEqual(diagnose("nocert13", pkcs1, since, since + 500), { reason: "tls13", label: "CIE di MARIO ROSSI" });
  assert.deepEqual(diagnose("nocert", pkcs1, since, since + 500), { reason: "not-offered" }, "TLS 1.2 takes PKCS#1: not the reason");
  assert.deepEqual(diagnose("signature", null, since, since + 500), { reason: "no-service" });
  assert.deepEqual(diagnose("nocert", { ...status(), mode: "no-service", tokens: [] }, since, since + 500), { reason: "no-service" });
  assert.deepEqual(diagnose("nocert", { ...status(), tokens: [] }, since, since + 500), { reason: "no-card" });
  assert.deepEqual(diagnose("tls", { ...status(), tokens: [] }, since, since + 500), { reason: "no-card" });
  assert.equal(diagnose("tls", status(), since, since + 500), null, "Firefox's other security errors (a server certificate, ...): the browser's page stays");
  assert.deepEqual(diagnose("tls", status({ startedAt: since + 900 }), since, since + 500), { reason: "service-stopped" }, "a service started after the failure: none was there for the handshake");
  assert.equal(diagnose("tls", status({ startedAt: since + 100 }), since, since + 500), null, "one started as the load began (by the extension's port) was there");
});

test("each reason in words, Italian and English, with how to retry where a retry can work", () => {
  const cases = [
    [{ reason: "refused", code: "ERR_EIDLINK_CARD_REMOVED" }, /tolta durante.*Per riprovare/, /removed during.*To try again/],
    [{ reason: "refused", code: "ERR_WEBEID_USER_CANCELLED" }, /annullato.*Per riprovare/, /cancelled.*To try again/],
    [{ reason: "service-stopped" }, /servizio di eidlink si è fermato.*Per riprovare/, /service stopped.*To try again/],
    [{ reason: "tls13", label: "CIE di MARIO ROSSI" }, /TLS 1\.3.*CIE di MARIO ROSSI.*solo PKCS#1 v1\.5.*TLS 1\.2/, /TLS 1\.3.*CIE di MARIO ROSSI.*only PKCS#1 v1\.5.*TLS 1\.2/],
    [{ reason: "no-service" }, /non è in esecuzione.*eidlink doctor/, /not running.*eidlink doctor/],
    [{ reason: "no-card" }, /non ha trovato la carta/, /found no card/],
    [{ reason: "not-offered" }, /non ha presentato il certificato/, /did not present/],
  ];
  for (const [f, itRe, enRe] of /** @type {[any, RegExp, RegExp][]} */ (cases)) {
    assert.match(explainTls(f, it), itRe, JSON.stringify(f));
    assert.match(explainTls(f, en), enRe, JSON.stringify(f));
  }
  assert.doesNotMatch(explainTls({ reason: "tls13", label: "CIE" }, it), /riprovare/, "TLS 1.3 with that card: retrying does not help");
  // Chromium remembers that it sent the site no certificate
  assert.match(explainTls({ reason: "no-card", error: "net::ERR_BAD_SSL_CLIENT_AUTH_CERT" }, it), /non ha trovato la carta.*chiudi e riapri il browser/);
  assert.doesNotMatch(explainTls({ reason: "no-card", error: "SSL_ERROR_HANDSHAKE_FAILURE_ALERT" }, it), /riapri/);
  assert.doesNotMatch(explainTls({ reason: "service-stopped", error: "net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED" }, it), /riapri/, "a certificate was sent");
});

test("webRequest follows the hosts of the profiles with TLS logins only", () => {
  const data = { profiles: [{ hosts: ["www.inps.it", "*.inps.it"], unlock: {} }, { hosts: ["example.org"] }, { hosts: ["idserver.servizicie.interno.gov.it"], unlock: {} }] };
  assert.deepEqual(tlsLoginMatches(data), ["https://*.inps.it/*", "https://idserver.servizicie.interno.gov.it/*", "https://www.inps.it/*"]);
});

function setup(/** @type {any} */ hostStatus = status()) {
  const clock = new FakeClock();
  /** @type {FakePort[]} */
  const ports = [];
  /** @type {number[]} */
  const shown = [];
  /** @type {any[]} */
  const reported = [];
  const watch = new TlsWatch({
    newNative: () =>
      new NativeAppService({
        connect: () => {
          const port = new FakePort();
          ports.push(port);
          queueMicrotask(() => port.receive({ version: "0.1.0" }));
          return port;
        },
        requiredMajor: 0,
        timers: clock,
      }),
    status: async () => hostStatus,
    show: (tabId) => shown.push(tabId),
    onFailure: (f) => reported.push(f),
    now: () => clock.now,
    timers: clock,
  });
  return { clock, ports, shown, reported, watch };
}

test("a port to the host from the first load of a TLS-login site until a while after the last, one at a time", async () => {
  const { clock, ports, watch } = setup();
  watch.started({ tabId: 1, url: "https://idserver.servizicie.interno.gov.it/idp/" });
  await until(() => watch.native?.state === NativeState.CONNECTED);
  watch.started({ tabId: 2, url: "https://www.inps.it/" });
  clock.advance(KEEP_FOR - 1);
  watch.started({ tabId: 1, url: "https://idserver.servizicie.interno.gov.it/idp/login" });
  assert.equal(ports.length, 1, "one port");
  clock.advance(KEEP_FOR - 1);
  assert.equal(ports[0].connected, true, "kept while loads come");
  clock.advance(1);
  assert.equal(ports[0].connected, false, "let go when idle");
  assert.equal(clock.active, 0);
  ports[0].drop();
  watch.started({ tabId: 1, url: "https://idserver.servizicie.interno.gov.it/idp/" });
  assert.equal(ports.length, 2, "a new port for a new load");
});

test("a load that fails on a TLS error: explained from the status, the tab shows it, the way back is the page before", async () => {
  const { clock, shown, reported, watch } = setup(status({ lastRefusalCode: "ERR_EIDLINK_CARD_REMOVED", lastRefusalAt: 1_000_500 }));
  const entry = "https://idserver.servizicie.interno.gov.it/idp/?SAMLRequest=x";
  watch.started({ tabId: 3, url: entry });
  watch.completed({ tabId: 3, url: entry });
  watch.started({ tabId: 3, url: "https://idserver.servizicie.interno.gov.it/idp/login/livello2" });
  clock.advance(1000);
  assert.equal(await watch.failed({ tabId: 3, url: "https://idserver.servizicie.interno.gov.it/idp/login/livello2", error: "net::ERR_ABORTED" }), null);
  assert.deepEqual(shown, [], "the user stopped the load: none of eidlink's business");
  watch.started({ tabId: 3, url: "https://idserver.servizicie.interno.gov.it/idp/login/livello2" });
  const f = await watch.failed({ tabId: 3, url: "https://idserver.servizicie.interno.gov.it/idp/login/livello2", error: "net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED" });
  assert.deepEqual(f, { reason: "refused", code: "ERR_EIDLINK_CARD_REMOVED", error: "net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED", host: "idserver.servizicie.interno.gov.it", back: entry, at: clock.now });
  assert.deepEqual(shown, [3]);
  assert.deepEqual(watch.failure, f);
  assert.deepEqual(reported, [f]);
  // a tab that opened the login address first goes back to the site's root
  watch.started({ tabId: 4, url: "https://www.inps.it/login" });
  assert.equal((await watch.failed({ tabId: 4, url: "https://www.inps.it/login", error: "net::ERR_BAD_SSL_CLIENT_AUTH_CERT" }))?.back, "https://www.inps.it/");
  watch.report(null);
  assert.equal(watch.failure, null);
  watch.close();
});
