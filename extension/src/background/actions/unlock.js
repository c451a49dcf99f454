// eidlink:unlock, from the site helper (never from a page): before a TLS
// client-certificate login, the PIN in eidlink's window and the card kept
// unlocked by the service for a few signatures of eidlink's PKCS#11
// module. The origin is the sender tab's, from the browser.

import { pick, runCommand } from "../conversation.js";

/**
 * @param {import("../conversation.js").ActionContext} ctx
 */
export default async function unlock(ctx) {
  const reply = await runCommand(ctx, "unlock", { origin: ctx.origin, lang: ctx.lang });
  const u = reply.unlocked && typeof reply.unlocked === "object" ? reply.unlocked : {};
  return { unlocked: pick(u, ["expiresIn", "signatures", "cardKind"]) };
}
