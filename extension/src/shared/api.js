// The extension API object: Firefox's promise-based `browser`, or Chrome's
// `chrome` (promise-based in MV3). Both are used through Chrome's types.

/** @type {typeof chrome} */
export const api = /** @type {any} */ (globalThis).browser ?? globalThis.chrome;

/** The native messaging host name (manifest/ and host install use it). */
export const HOST_NAME = "it.eidlink.host";
