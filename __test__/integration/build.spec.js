'use strict'

// scripts/build.js, the install script, on a machine without cargo: one clear message
// saying what is missing and where to get it, and a failing exit code so that npm install
// stops. It runs from a copy in a temporary directory, so the real addon is never touched.

const assert = require('assert/strict')
const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.resolve(__dirname, '..', '..')

describe('scripts/build.js without cargo', function () {
  let tmp, script

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'websocket-extensions-rs-build-'))
    script = path.join(tmp, 'scripts', 'build.js')
    fs.mkdirSync(path.dirname(script))
    fs.copyFileSync(path.join(root, 'scripts', 'build.js'), script)
  })

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true })
  })

  const build = (env) =>
    spawnSync(process.execPath, [script, '--force'], { cwd: tmp, env, encoding: 'utf8' })

  const pathWithoutCargo = () =>
    (process.env.PATH || '')
      .split(path.delimiter)
      .filter((dir) => dir && !fs.existsSync(path.join(dir, 'cargo')))
      .join(path.delimiter)

  const assertOneClearMessage = (result) => {
    const said = `exit ${result.status}\n${result.stdout}${result.stderr}`
    assert.notEqual(result.status, 0, said)
    assert.match(result.stderr, /`cargo` was not found/, said)
    assert.match(result.stderr, /rustup/, said)
    assert.match(result.stderr, /npm install/, said)
    assert.ok(result.stderr.trim().split('\n').length <= 8, said)
    assert.equal(result.stdout, '', said)
    for (const dir of [tmp, path.join(tmp, 'lib')]) {
      if (fs.existsSync(dir)) assert.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith('.node')), [], dir)
    }
  }

  it('with cargo on no PATH directory and CARGO unset', function () {
    const env = { ...process.env, PATH: pathWithoutCargo() }
    delete env.CARGO
    assertOneClearMessage(build(env))
  })

  it('with CARGO naming a file that does not exist', function () {
    assertOneClearMessage(build({ ...process.env, CARGO: path.join(tmp, 'no-such-cargo') }))
  })
})
