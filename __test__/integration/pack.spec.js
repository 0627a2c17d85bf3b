'use strict'

// The package as a consumer gets it: `npm pack`, then a fresh project in the system's
// temporary directory installs the tarball beside faye-websocket 0.11.4 and
// websocket-driver 0.8.0 from npm, with npm `overrides` pointing their
// `websocket-extensions` at the tarball. The consumer's `npm install` must build the addon
// (the package's install script runs cargo), and an echo over loopback with the native
// permessage-deflate must work there. The fixtures that run inside that project are in
// consumer/. Needs the npm registry (or a warm npm cache) and cargo.

const assert = require('assert/strict')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { root, cleanEnv, run, output, writeJson, report, packMain, withoutCargo } = require('./packaging')

// Cargo's build cache for the consumer builds. Not the repository's own target directory:
// cargo names the artifacts of path crates by their place in the workspace, so the
// tarball's crates would share artifacts with the working tree's and one build could link
// against the other's. A separate, lasting directory keeps the third-party crates
// compiled between runs (the first run compiles everything, about two minutes).
const CARGO_TARGET_DIR = path.join(root, 'target', 'pack-test')

// A copy of the package built from source: the addon beside lib/binding.js, under
// napi-rs's name for this platform.
const builtAddons = (dir) => fs.readdirSync(path.join(dir, 'lib')).filter((name) => /^websocket-extensions-rs\..+\.node$/.test(name))

describe('npm pack, installed into a fresh project', function () {
  this.timeout(5 * 60 * 1000)

  let tmp, tarball, app, install

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-extensions-rs-pack-'))
    // As packed from the working tree: no optional dependencies on platform packages, so
    // the install script builds from source, the fallback where no prebuilt one matches.
    tarball = packMain(tmp)

    app = path.join(tmp, 'app')
    fs.mkdirSync(app)
    const spec = 'file:' + tarball
    writeJson(path.join(app, 'package.json'), {
      name: 'consumer',
      version: '1.0.0',
      private: true,
      dependencies: {
        'faye-websocket': '0.11.4',
        'websocket-driver': '0.8.0',
        'websocket-extensions-rs': spec
      },
      overrides: { 'websocket-extensions': spec }
    })
    for (const file of fs.readdirSync(path.join(__dirname, 'consumer'))) {
      fs.copyFileSync(path.join(__dirname, 'consumer', file), path.join(app, file))
    }
    install = run('npm', ['install', '--no-audit', '--no-fund'], {
      cwd: app,
      env: cleanEnv({ CARGO_TARGET_DIR })
    })
  })

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('npm install succeeds and builds the addon in every installed copy', function () {
    assert.equal(install.status, 0, output(install))
    for (const name of ['websocket-extensions', 'websocket-extensions-rs']) {
      const dir = path.join(app, 'node_modules', name)
      assert.equal(builtAddons(dir).length, 1, `no addon was built in ${dir}\n${output(install)}`)
    }
  })

  it('websocket-driver under faye-websocket loads websocket-extensions from the tarball, and a faye-websocket server and client echo byte for byte over the native permessage-deflate', function () {
    assert.equal(install.status, 0, 'npm install failed')
    const result = run(process.execPath, ['check.js'], { cwd: app, timeout: 60000 })
    assert.equal(result.status, 0, output(result))
    const seen = report(result)
    assert.equal(seen.container, path.join('node_modules', 'websocket-extensions', 'index.js'))
    assert.match(seen.header, /^permessage-deflate/)
    assert.equal(seen.echoed, 8)
    assert.ok(seen.addons.length > 0, JSON.stringify(seen))
    for (const addon of seen.addons) {
      assert.match(addon, /^node_modules\/websocket-extensions(-rs)?\/lib\/websocket-extensions-rs\..+\.node$/, JSON.stringify(seen))
    }
    // About a third of the payload is random bytes; the rest compresses well.
    assert.ok(seen.clientToServerWire < seen.payload * 0.6, JSON.stringify(seen))
  })

  it('import() of the package, ./deflate and ./parser works from an .mjs file and gives the CommonJS objects', function () {
    assert.equal(install.status, 0, 'npm install failed')
    const result = run(process.execPath, ['check.mjs'], { cwd: app, timeout: 60000 })
    assert.equal(result.status, 0, output(result))
    assert.match(report(result).offer, /^permessage-deflate; client_max_window_bits$/)
  })

  it('TypeScript finds the types of all three entry points in the installed package, as ESM and as CommonJS', function () {
    assert.equal(install.status, 0, 'npm install failed')
    writeJson(path.join(app, 'tsconfig.json'), {
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        // @types/node comes from this repository, so the project needs no TypeScript install.
        typeRoots: [path.join(root, 'node_modules', '@types')],
        types: ['node']
      },
      files: ['types.mts', 'types.cts']
    })
    const tsc = require.resolve('typescript/bin/tsc')
    const result = run(process.execPath, [tsc, '-p', app], { cwd: app, timeout: 120000 })
    assert.equal(result.status, 0, output(result))
  })

  it('without cargo, npm install fails with one short message that names cargo and rustup', function () {
    const project = path.join(tmp, 'no-cargo')
    const bin = path.join(project, 'bin')
    fs.mkdirSync(project, { recursive: true })
    writeJson(path.join(project, 'package.json'), {
      name: 'no-cargo',
      version: '1.0.0',
      private: true,
      dependencies: { 'websocket-extensions-rs': 'file:' + tarball }
    })
    const result = run('npm', ['install', '--no-audit', '--no-fund'], {
      cwd: project,
      env: withoutCargo(bin)
    })
    assert.notEqual(result.status, 0, output(result))
    const errors = result.stderr.split('\n').filter((line) => /\berror\b/.test(line))
    assert.match(result.stderr, /`cargo` was not found/, output(result))
    assert.match(result.stderr, /rustup\.rs/, output(result))
    assert.doesNotMatch(result.stderr + result.stdout, /Compiling|rustc/)
    assert.ok(errors.length <= 15, `${errors.length} error lines:\n${result.stderr}`)
  })
})
