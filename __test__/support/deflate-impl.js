'use strict'

// The permessage-deflate extension that the interop tests run on this package's side: ours
// (deflate.js), or the npm package permessage-deflate 0.1.7, which takes the same options,
// when WSX_IMPL=original (see impl.js) or before deflate.js exists. Running the interop
// tests on the original stack is what proves them right.

const fs = require('fs')
const path = require('path')

const ours =
  process.env.WSX_IMPL !== 'original' && fs.existsSync(path.join(__dirname, '..', '..', 'deflate.js'))

module.exports = ours ? require('../../deflate') : require('permessage-deflate')
