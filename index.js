'use strict'
// The `Extensions` class, a drop-in for the npm package
// `websocket-extensions`: lib/extensions.js.
module.exports = require('./lib/extensions')
