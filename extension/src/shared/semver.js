// Semantic versions, as far as the host version check needs them.

/**
 * parseVersion returns [major, minor, patch] or null.
 * @param {unknown} v
 */
export function parseVersion(v) {
  const m = typeof v === "string" && /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}
