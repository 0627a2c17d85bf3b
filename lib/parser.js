// @ts-check
'use strict'
// The `Sec-WebSocket-Extensions` grammar. Parsing and formatting happen in
// Rust (core/src/parser.rs); this file only turns JavaScript values into what the
// binding takes and back.
const native = require('./binding')
const { invalidHeader } = require('./errors')

/** @typedef {import('../index').Offer} Offer */

// Returns the header as a string for the parser, '' for no header.
/**
 * @param {unknown} header
 * @returns {string}
 */
function headerText (header) {
  if (header === undefined || header === null) return ''
  if (typeof header !== 'string') {
    throw new TypeError('Sec-WebSocket-Extensions header must be a string, got ' + typeof header)
  }
  return header
}

// The parser hands back JSON because JSON.parse makes every key an own data
// property, `__proto__` included, and builds the objects faster than the
// binding could one property at a time.
/**
 * @param {unknown} header
 * @returns {Offer[]}
 */
function parseHeader (header) {
  const text = headerText(header)
  if (text === '') return []
  const json = native.parseHeaderJson(text)
  if (typeof json !== 'string') throw invalidHeader(header)
  return JSON.parse(json)
}

/**
 * @param {unknown} name
 * @param {Record<string, unknown>} params
 * @returns {string}
 */
function serializeParams (name, params) {
  /** @type {string[]} */
  const keys = []
  // Per key: `true`, or the text; strings are quoted if they need it,
  // anything else is printed as is.
  /** @type {Array<true | string>} */
  const values = []
  /** @type {boolean[]} */
  const quoted = []
  /**
   * @param {string} key
   * @param {unknown} value
   */
  const print = (key, value) => {
    if (value instanceof Array) {
      value.forEach((v) => print(key, v))
      return
    }
    keys.push(key)
    values.push(value === true ? true : String(value))
    quoted.push(typeof value === 'string')
  }
  for (const key in params) print(key, params[key])
  return native.serializeParams(String(name), keys, values, quoted)
}

// parser.js at the root exports the first two; the container
// (lib/extensions.js) parses the client's offers straight into its plan.
module.exports = { parseHeader, serializeParams, headerText, invalidHeader }
