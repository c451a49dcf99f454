// web-eid:status: the versions of the library, the extension and the host.
// The dispatcher has already connected to the host and checked its version.

/**
 * @param {import("../conversation.js").ActionContext} ctx
 * @param {Record<string, unknown>} msg
 */
export default async function status(ctx, msg) {
  return {
    library: typeof msg.libraryVersion === "string" ? msg.libraryVersion : undefined,
    extension: ctx.extensionVersion,
    nativeApp: ctx.native.version,
  };
}
