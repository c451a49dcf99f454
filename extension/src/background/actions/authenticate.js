// web-eid:authenticate: sign the challenge nonce for the sender's origin
// and return the web-eid:1.0 token.

import { pick, requireString, runCommand } from "../conversation.js";

/**
 * @param {import("../conversation.js").ActionContext} ctx
 * @param {Record<string, unknown>} msg
 */
export default async function authenticate(ctx, msg) {
  const challengeNonce = requireString(msg, "challengeNonce");
  const token = await runCommand(ctx, "authenticate", { challengeNonce, origin: ctx.origin, lang: ctx.lang });
  return pick(token, ["unverifiedCertificate", "algorithm", "signature", "format", "appVersion"]);
}
