'use strict'

// `import` and `require` of the three entry points by the package's name, as a consumer
// writes them, through the `exports` map. Every entry point is one CommonJS file: `import`
// gets its module.exports as the default export (and, for ./parser, the names Node's
// loader finds in it), so both share one object and one native addon, and no .mjs
// wrapper is needed.

const assert = require('assert/strict')
const fs = require('fs')
const path = require('path')

const root = path.resolve(__dirname, '..', '..')
const pkg = require('../../package.json')

describe('ES modules and the exports map', function () {
  it('import of the package gives the Extensions class that require gives', async function () {
    const esm = await import('websocket-extensions-rs')
    assert.equal(esm.default, require('websocket-extensions-rs'))
    assert.equal(require('websocket-extensions-rs'), require('../..'))
    assert.equal(typeof esm.default.validateOptions, 'function')
  })

  it('import of ./deflate gives the same extension object as require', async function () {
    const esm = await import('websocket-extensions-rs/deflate')
    assert.equal(esm.default, require('websocket-extensions-rs/deflate'))
    assert.equal(esm.default.name, 'permessage-deflate')
  })

  it('import of ./parser gives parseHeader and serializeParams by name, and the module as default', async function () {
    const esm = await import('websocket-extensions-rs/parser')
    const cjs = require('websocket-extensions-rs/parser')
    assert.equal(esm.default, cjs)
    assert.deepEqual(Object.keys(cjs).sort(), ['parseHeader', 'serializeParams'])
    assert.equal(esm.parseHeader, cjs.parseHeader)
    assert.equal(esm.serializeParams, cjs.serializeParams)
  })

  it('./package.json is exported; internal files are not', function () {
    assert.equal(require('websocket-extensions-rs/package.json').name, 'websocket-extensions-rs')
    for (const internal of ['binding', 'lib/binding', 'lib/binding.js', 'lib/deflate', 'lib/entry/deflate.js', 'index.js']) {
      assert.throws(() => require(`websocket-extensions-rs/${internal}`), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, internal)
    }
  })

  it('every file the exports map names exists, is published, and has its .d.ts beside it', function () {
    const named = Object.values(pkg.exports).map((file) => file.replace(/^\.\//, ''))
    assert.deepEqual(Object.keys(pkg.exports), ['.', './deflate', './parser', './package.json'])
    for (const file of named) {
      assert.ok(fs.existsSync(path.join(root, file)), `${file} does not exist`)
      const published = pkg.files.some((entry) => entry === file || (entry.endsWith('/') && file.startsWith(entry)))
      assert.ok(published || file === 'package.json', `${file} is exported but not in "files"`)
      if (file.endsWith('.js')) {
        assert.ok(fs.existsSync(path.join(root, file.replace(/\.js$/, '.d.ts'))), `${file} has no .d.ts beside it`)
      }
    }
  })

  it('typesVersions sends TypeScript\'s node10 resolution to the .d.ts of each subpath the exports map has', function () {
    for (const [subpath, file] of Object.entries(pkg.exports)) {
      if (subpath === '.' || subpath === './package.json') continue
      assert.deepEqual(pkg.typesVersions['*'][subpath.slice(2)], [file.slice(2).replace(/\.js$/, '.d.ts')], subpath)
    }
    assert.equal(pkg.types, 'index.d.ts')
    assert.equal(pkg.main, 'index.js')
  })
})
