// Timers as a value, so that tests can pass a fake clock. The wrappers keep
// `this` right: browsers throw "Illegal invocation" for setTimeout called
// as a method of another object.

/** @typedef {{set: (f: () => void, ms: number) => any, clear: (id: any) => void}} Timers */

/** @type {Timers} */
export const realTimers = { set: (f, ms) => setTimeout(f, ms), clear: (id) => clearTimeout(id) };
