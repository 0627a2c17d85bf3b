'use strict'
// Loads the compiled addon, with a message that says what to do when it is
// missing (it is built by `npm install`, see scripts/build.js).
const path = require('path')

const file = path.join(__dirname, 'websocket-extensions-rs.node')
try {
  module.exports = require(file)
} catch (error) {
  if (error.code !== 'MODULE_NOT_FOUND') throw error
  throw new Error(
    'websocket-extensions-rs: the native addon ' + file + ' is missing. ' +
    'It is built from source by `npm install` (it needs Rust\'s cargo); ' +
    'run `npm run build` in ' + __dirname + ' to build it again.'
  )
}
