'use strict'
const assert = require('assert/strict')
const { spawnSync } = require('child_process')
const path = require('path')

describe('index.d.ts', function () {
  this.timeout(60000)

  it('compiles a usage file under tsc --noEmit --strict', function () {
    const tsc = require.resolve('typescript/bin/tsc')
    const result = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types')], { encoding: 'utf8' })
    assert.equal(result.status, 0, result.stdout + result.stderr)
  })
})
