'use strict'

// The implementation under test: this package, or the original websocket-extensions 0.2.0
// when WSX_IMPL=original. Every test that is not about a deviation or a new item must pass
// against both; running it against the original is what proves the test right.

const Module = require('module')

const isOriginal = process.env.WSX_IMPL === 'original'

let Extensions, parser

if (isOriginal) {
  Extensions = require('websocket-extensions-original')
  const original = require('websocket-extensions-original/lib/parser')

  // The original keeps a global regex (/g) whose lastIndex survives between calls, so
  // whether a value gets quoted can depend on the previous call. A failing test() resets
  // it; doing one first lets table tests judge each call on its own.
  const resetQuoting = () => original.serializeParams('x', { k: 't' })

  parser = {
    // The original returns an Offers object; the SPEC's parseHeader returns its array.
    parseHeader: (header) => original.parseHeader(header).toArray(),
    serializeParams: (name, params) => {
      resetQuoting()
      return original.serializeParams(name, params)
    }
  }

  // websocket-driver requires 'websocket-extensions', which npm overrides point at this
  // package; send it to the original instead so the driver tests exercise the original.
  const resolveFilename = Module._resolveFilename
  Module._resolveFilename = function (request, ...rest) {
    if (request === 'websocket-extensions') request = 'websocket-extensions-original'
    return resolveFilename.call(this, request, ...rest)
  }
} else {
  Extensions = require('../..')
  parser = require('websocket-extensions-rs/parser')
}

// Tests of SPEC deviations and new items: the original is known to fail them.
const itDeviation = isOriginal ? it.skip : it
const itNew = itDeviation

module.exports = { Extensions, parser, itDeviation, itNew }
