'use strict'

// The ES module entry points (index.mjs, deflate.mjs, parser.mjs) and the `exports` map,
// reached by the package's own name as a consumer reaches them.

const assert = require('assert/strict')
const path = require('path')

const root = path.resolve(__dirname, '..', '..')

describe('ES modules and the exports map', function () {
  it('import of the package gives the Extensions class that require gives', async function () {
    const esm = await import('websocket-extensions-rs')
    assert.equal(esm.default, require('../..'))
    assert.equal(require('websocket-extensions-rs'), require('../..'))
  })

  it('import of ./deflate gives the same extension object as require', async function () {
    const esm = await import('websocket-extensions-rs/deflate')
    assert.equal(esm.default, require('../../deflate'))
    assert.equal(esm.default.name, 'permessage-deflate')
  })

  it('import of ./parser gives parseHeader and serializeParams by name, and the module as default', async function () {
    const esm = await import('websocket-extensions-rs/parser')
    const cjs = require('../../parser')
    assert.equal(esm.default, cjs)
    assert.equal(esm.parseHeader, cjs.parseHeader)
    assert.equal(esm.serializeParams, cjs.serializeParams)
  })

  it('./package.json is exported; internal files are not', function () {
    assert.equal(require('websocket-extensions-rs/package.json').name, 'websocket-extensions-rs')
    assert.throws(() => require('websocket-extensions-rs/binding'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' })
  })

  it('every file the exports map names is in package.json "files"', function () {
    const pkg = require('../../package.json')
    const named = []
    const walk = (value) => {
      if (typeof value === 'string') named.push(value.replace(/^\.\//, ''))
      else Object.values(value).forEach(walk)
    }
    walk(pkg.exports)
    for (const file of named) {
      if (file === 'package.json') continue
      assert.ok(pkg.files.includes(file), `${file} is exported but not in "files"`)
      assert.ok(require('fs').existsSync(path.join(root, file)), `${file} does not exist`)
    }
  })
})
