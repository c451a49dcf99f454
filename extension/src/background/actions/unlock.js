// eidlink:unlock, from the site helper (never from a page): before a TLS
// client-certificate login, the PIN in eidlink's window and the card kept
// unlocked by the service for a few signatures of eidlink's PKCS#11
// module. The origin is the sender tab's, from the browser; the card is
// the kind of the login control the user clicked ("cie", "cns"), so that
// with several cards inserted the service unlocks that one.

import { pick, runCommand } from "../conversation.js";

/** the card kinds a site profile's login controls name */
const KINDS = new Set(["cie", "cns"]);

/**
 * @param {import("../conversation.js").ActionContext} ctx
 * @param {Record<string, unknown>} msg
 */
export default async function unlock(ctx, msg) {
  const card = typeof msg.card === "string" && KINDS.has(msg.card) ? msg.card : undefined;
  const reply = await runCommand(ctx, "unlock", { origin: ctx.origin, lang: ctx.lang, ...(card && { card }) });
  const u = reply.unlocked && typeof reply.unlocked === "object" ? reply.unlocked : {};
  return { unlocked: pick(u, ["expiresIn", "signatures", "cardKind"]) };
}
