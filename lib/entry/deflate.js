'use strict'
// `require('websocket-extensions-rs/deflate')`: the native permessage-deflate
// extension object of lib/deflate.js. `import` reaches this file too (the
// exports map), so both share one object and one native addon.
module.exports = require('../deflate').deflate
