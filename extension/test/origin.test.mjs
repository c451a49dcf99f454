import assert from "node:assert/strict";
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { canonicalOrigin, checkOrigin, hostMatches, isLoopback, originMatches, senderOrigin } from "../src/shared/origin.js";

test("canonicalOrigin agrees with the host's CanonicalOrigin on every vector", () => {
  /** @type {{origin: string, canonical: string|null}[]} */
  const vectors = JSON.parse(readFileSync(new URL("../../internal/webinput/testdata/origins.json", import.meta.url), "utf8"));
  assert.ok(vectors.length > 50);
  for (const v of vectors) assert.equal(canonicalOrigin(v.origin), v.canonical ?? "", JSON.stringify(v.origin));
});

test("senderOrigin: from the browser's sender, normalised", () => {
  const cases = [
    [{ url: "https://www.inps.it/PassiWeb/jsp/login.jsp?uri=x#y" }, "https://www.inps.it"],
    [{ url: "https://WWW.INPS.IT:443/a" }, "https://www.inps.it"],
    [{ url: "https://localhost:8443/" }, "https://localhost:8443"],
    [{ url: "http://[::1]:8080/x" }, "http://[::1]:8080"],
    [{ url: "https://bücher.example/" }, "https://xn--bcher-kva.example"],
    [{ url: "https://[0:0::1]:443/" }, "https://[::1]"],
    [{ url: "https://x.it:65536/" }, ""], // URL refuses it
    [{ url: "https://[::ffff:127.0.0.1]/" }, ""], // the host refuses IPv4-mapped addresses
    // sender.origin wins where the URL is not the document's origin
    [{ url: "about:blank", origin: "https://www.inps.it" }, "https://www.inps.it"],
    [{ url: "https://www.inps.it/", origin: "null" }, ""],
    [{ url: "file:///home/x.html" }, ""],
    [{ url: "chrome-extension://abc/pin.html" }, ""],
    [{ url: "data:text/html,x" }, ""],
    [{}, ""],
  ];
  for (const [sender, want] of cases) assert.equal(senderOrigin(sender), want, JSON.stringify(sender));
});

test("isLoopback: localhost, 127/8 and ::1 only", () => {
  for (const h of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"]) assert.ok(isLoopback(h), h);
  for (const h of ["localhost.example", "sub.localhost", "128.0.0.1", "10.0.0.1", "[::2]", "0.0.0.0"]) assert.ok(!isLoopback(h), h);
});

test("checkOrigin: https always; loopback http only in developer mode", () => {
  const off = { devMode: false, allowedOrigins: [] };
  const on = { devMode: true, allowedOrigins: [] };
  checkOrigin("https://www.inps.it", off);
  checkOrigin("http://localhost:8080", on);
  checkOrigin("http://127.0.0.1:9", on);
  const insecure = { code: "ERR_WEBEID_CONTEXT_INSECURE" };
  assert.throws(() => checkOrigin("http://localhost:8080", off), insecure);
  assert.throws(() => checkOrigin("http://example.com", on), insecure);
  assert.throws(() => checkOrigin("", on), insecure);
  assert.throws(() => checkOrigin("https://" + "a".repeat(250) + ".it", on), insecure);
});

test("allow-list patterns", () => {
  assert.ok(originMatches("https://www.inps.it", "https://www.inps.it"));
  assert.ok(originMatches("https://www.inps.it/", "https://www.inps.it"));
  assert.ok(originMatches("https://*.inps.it", "https://serviziweb2.inps.it"));
  assert.ok(originMatches("https://*.inps.it", "https://inps.it"));
  assert.ok(!originMatches("https://*.inps.it", "https://evilinps.it"));
  assert.ok(!originMatches("https://*.inps.it", "http://www.inps.it"));
  assert.ok(!originMatches("https://www.inps.it", "https://www.inps.it:8443"));
  assert.throws(() => checkOrigin("https://example.com", { devMode: false, allowedOrigins: ["https://*.inps.it"] }), { code: "ERR_EIDLINK_ORIGIN_NOT_ALLOWED" });
});

test("hostMatches", () => {
  assert.ok(hostMatches("*.inps.it", "www.inps.it"));
  assert.ok(hostMatches("*.inps.it", "inps.it"));
  assert.ok(!hostMatches("*.inps.it", "xinps.it"));
  assert.ok(hostMatches("www.inps.it", "www.inps.it"));
  assert.ok(!hostMatches("www.inps.it", "inps.it"));
});
