// web-eid:get-signing-certificate: the card's signing certificate and what
// it can sign with.

import { pick, runCommand } from "../conversation.js";

/**
 * @param {import("../conversation.js").ActionContext} ctx
 */
export default async function getSigningCertificate(ctx) {
  const res = await runCommand(ctx, "get-signing-certificate", { origin: ctx.origin, lang: ctx.lang });
  return pick(res, ["certificate", "supportedSignatureAlgorithms"]);
}
