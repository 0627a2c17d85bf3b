'use strict'
// The native permessage-deflate extension: lib/deflate.js.
module.exports = require('./lib/deflate').deflate
