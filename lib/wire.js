// @ts-check
'use strict'
// The numbers that cross between this JavaScript and the addon: failure
// codes, directions, the packing of the core's actions, codec results. They
// are defined once, in Rust (core/src/wire.rs), and read here once.

const native = require('./binding')

/** @type {Record<string, number>} */
const wire = native.wireConstants()

module.exports = { wire }
