'use strict'
const assert = require('assert/strict')
const { spawnSync } = require('child_process')
const path = require('path')

function tsc (project) {
  const bin = require.resolve('typescript/bin/tsc')
  return spawnSync(process.execPath, [bin, '-p', path.join(__dirname, project)], { encoding: 'utf8' })
}

describe('index.d.ts', function () {
  this.timeout(60000)

  it('compiles a usage file under tsc --noEmit --strict', function () {
    const result = tsc('types')
    assert.equal(result.status, 0, result.stdout + result.stderr)
  })

  it('gives ES module users the types of ., ./deflate and ./parser through the exports map (nodenext)', function () {
    const result = tsc(path.join('types', 'esm'))
    assert.equal(result.status, 0, result.stdout + result.stderr)
  })
})
