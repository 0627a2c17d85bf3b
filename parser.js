'use strict'
// The `Sec-WebSocket-Extensions` grammar: lib/parser.js.
const { parseHeader, serializeParams } = require('./lib/parser')

module.exports = { parseHeader, serializeParams }
