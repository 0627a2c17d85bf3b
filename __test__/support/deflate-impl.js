'use strict'

// The permessage-deflate extension that the interop tests run on this package's side: ours
// (websocket-extensions-rs/deflate), or the npm package permessage-deflate 0.1.7, which
// takes the same options, when WSX_IMPL=original (see impl.js). Running the interop tests
// on the original stack is what proves them right.

module.exports = process.env.WSX_IMPL === 'original'
  ? require('permessage-deflate')
  : require('websocket-extensions-rs/deflate')
