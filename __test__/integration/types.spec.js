'use strict'

// The type declarations as a TypeScript user meets them: a project whose node_modules holds
// the package's published files (the list `npm pack --dry-run` gives) compiles usage.ts
// (CommonJS) and usage.mts (an ES module) by the package's name under each module
// resolution a tsconfig can choose. node10 (TypeScript's default for `module: commonjs`)
// reads no `exports` map: it finds ./deflate and ./parser through `typesVersions`. node16,
// nodenext and bundler read `exports`, and the .d.ts beside each file it names.

const assert = require('assert/strict')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { root, run, output, writeJson, packedFiles } = require('./packaging')

const FIXTURES = path.join(__dirname, 'types')
const TSC = require.resolve('typescript/bin/tsc')

describe('TypeScript declarations, resolved by the package name', function () {
  this.timeout(2 * 60 * 1000)

  let tmp

  // A consumer project with the published files in node_modules/websocket-extensions-rs;
  // `edit` changes the installed package.json.
  const project = (name, edit = (manifest) => manifest) => {
    const app = path.join(tmp, name)
    const installed = path.join(app, 'node_modules', 'websocket-extensions-rs')
    for (const file of packedFiles(root)) {
      fs.mkdirSync(path.dirname(path.join(installed, file)), { recursive: true })
      fs.copyFileSync(path.join(root, file), path.join(installed, file))
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'))
    writeJson(path.join(installed, 'package.json'), edit(manifest))
    fs.symlinkSync(path.join(root, 'node_modules', '@types'), path.join(app, 'node_modules', '@types'))
    writeJson(path.join(app, 'package.json'), { name: 'consumer', version: '1.0.0', private: true, type: 'commonjs' })
    for (const file of fs.readdirSync(FIXTURES)) fs.copyFileSync(path.join(FIXTURES, file), path.join(app, file))
    return app
  }

  const tsc = (app, resolution) =>
    run(process.execPath, [TSC, '-p', path.join(app, `tsconfig.${resolution}.json`)], { cwd: app, timeout: 60000 })

  let app

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-extensions-rs-types-'))
    app = project('app')
  })

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  for (const resolution of ['node10', 'node16', 'nodenext', 'bundler']) {
    it(`moduleResolution ${resolution}: the package, ./deflate and ./parser type-check under --strict`, function () {
      const result = tsc(app, resolution)
      assert.equal(result.status, 0, output(result))
    })
  }

  it('typesVersions is what node10 needs: without it, ./deflate and ./parser are not found', function () {
    const bare = project('no-types-versions', ({ typesVersions, ...manifest }) => {
      assert.ok(typesVersions, 'package.json has typesVersions')
      return manifest
    })
    const result = tsc(bare, 'node10')
    assert.notEqual(result.status, 0, output(result))
    assert.match(result.stdout, /Cannot find module 'websocket-extensions-rs\/deflate'/, output(result))
    assert.match(result.stdout, /Cannot find module 'websocket-extensions-rs\/parser'/, output(result))
    assert.doesNotMatch(result.stdout, /Cannot find module 'websocket-extensions-rs'/, output(result))
  })

  it('the exports map is what node16, nodenext and bundler read: without ./parser there, it is not found', function () {
    const bare = project('no-parser-export', (manifest) => {
      delete manifest.exports['./parser']
      return manifest
    })
    for (const resolution of ['node16', 'nodenext', 'bundler']) {
      const result = tsc(bare, resolution)
      assert.notEqual(result.status, 0, output(result))
      assert.match(result.stdout, /websocket-extensions-rs\/parser/, output(result))
    }
  })
})
