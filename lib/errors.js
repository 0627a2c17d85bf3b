// @ts-check
'use strict'
// The one place where failures that cross from Rust become the original's
// errors. A native function that fails in a way the contract (docs/SPEC.md)
// words returns a failure code instead of its result; these functions turn a
// code into the Error to throw, class and text. The codes come from
// core/src/wire.rs (lib/wire.js). The per-message codec reports its
// failures with its own CODEC_* codes, turned into errors by lib/deflate.js.

const {
  ERROR_INVALID_HEADER: INVALID_HEADER,
  ERROR_NAME_TAKEN: NAME_TAKEN,
  RSV_CONFLICT_HOLDER_SHIFT: HOLDER_SHIFT
} = require('./wire').wire

/**
 * The error of a header that does not match the grammar.
 * @param {unknown} header the header as the caller gave it
 * @returns {SyntaxError}
 */
function invalidHeader (header) {
  return new SyntaxError('Invalid Sec-WebSocket-Extensions header: ' + header)
}

/**
 * The error of registering a second extension called `name`.
 * @param {string} name
 * @returns {TypeError}
 */
function nameTaken (name) {
  return new TypeError('An extension with name "' + name + '" is already registered')
}

/**
 * The error of a server response for extension `name` whose RSV bit is held
 * already: `conflict` as containerConflict returns it (`bit | holder <<
 * RSV_CONFLICT_HOLDER_SHIFT`), `names` the registered names by index.
 * @param {number} conflict
 * @param {string[]} names
 * @param {string} name
 * @returns {Error}
 */
function rsvConflict (conflict, names, name) {
  const bit = conflict & ((1 << HOLDER_SHIFT) - 1)
  const holder = names[conflict >>> HOLDER_SHIFT]
  return new Error('Server sent two extension responses that use the RSV' + bit + ' bit: "' + holder + '" and "' + name + '"')
}

module.exports = { INVALID_HEADER, NAME_TAKEN, invalidHeader, nameTaken, rsvConflict }
