// web-eid:sign: sign a hash with the certificate from get-signing-certificate.

import { pick, requireString, runCommand } from "../conversation.js";

/**
 * @param {import("../conversation.js").ActionContext} ctx
 * @param {Record<string, unknown>} msg
 */
export default async function sign(ctx, msg) {
  const args = {
    certificate: requireString(msg, "certificate"),
    hash: requireString(msg, "hash"),
    hashFunction: requireString(msg, "hashFunction"),
    origin: ctx.origin,
    lang: ctx.lang,
  };
  const res = await runCommand(ctx, "sign", args);
  return pick(res, ["signature", "signatureAlgorithm"]);
}
