'use strict'
// `require('websocket-extensions-rs/parser')`: the `Sec-WebSocket-Extensions`
// grammar of lib/parser.js, without its internal helpers. The object literal
// of plain names lets Node's ES module loader find them, so
// `import { parseHeader } from 'websocket-extensions-rs/parser'` works on this
// CommonJS file.
const { parseHeader, serializeParams } = require('../parser')

module.exports = { parseHeader, serializeParams }
