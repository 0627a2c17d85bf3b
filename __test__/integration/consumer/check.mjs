// Run by pack.spec.js in the fresh project: the ES module entry points of the installed
// package are the CommonJS modules themselves. Prints one line of JSON.
import assert from 'assert/strict'
import { createRequire } from 'module'
import Extensions from 'websocket-extensions-rs'
import deflate from 'websocket-extensions-rs/deflate'
import parser, { parseHeader, serializeParams } from 'websocket-extensions-rs/parser'

const require = createRequire(import.meta.url)

assert.equal(Extensions, require('websocket-extensions-rs'))
assert.equal(deflate, require('websocket-extensions-rs/deflate'))
assert.equal(parser, require('websocket-extensions-rs/parser'))
assert.equal((await import('websocket-extensions-rs')).default, Extensions)
assert.equal((await import('websocket-extensions-rs/deflate')).default, deflate)
assert.deepEqual(parseHeader('permessage-deflate; client_max_window_bits'), [
  { name: 'permessage-deflate', params: { client_max_window_bits: true } }
])
assert.equal(serializeParams('x', { a: 1 }), 'x; a=1')

const exts = new Extensions()
exts.add(deflate.configure({ level: 1 }))
console.log(JSON.stringify({ offer: exts.generateOffer(), version: require('websocket-extensions-rs/package.json').version }))
