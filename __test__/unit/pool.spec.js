'use strict'
// Issue 16: the size of the offload pool (one per process, started by the
// first large message) is WSX_DEFLATE_THREADS, or the cores up to four, as
// libuv's thread pool; deflate.stats().workerThreads shows it. Each case
// runs in a child process, since the pool starts once per process.

const assert = require('assert/strict')
const { execFile } = require('child_process')
const os = require('os')
const path = require('path')

const describeNative = process.env.WSX_IMPL === 'original' ? describe.skip : describe

function threads (value) {
  const env = { ...process.env }
  delete env.WSX_DEFLATE_THREADS
  if (value !== undefined) env.WSX_DEFLATE_THREADS = value
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'pool', 'child.js')], { env, timeout: 20000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`))
      assert.equal(stderr, '')
      resolve(JSON.parse(stdout))
    })
  })
}

describeNative('the offload pool size (WSX_DEFLATE_THREADS)', function () {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length

  it('defaults to the cores up to four, started by the first large message', async function () {
    assert.deepEqual(await threads(), { before: 0, after: Math.min(Math.max(cores, 1), 4) })
  })

  it('takes the variable when it is a whole number from 1', async function () {
    assert.deepEqual(await threads('3'), { before: 0, after: 3 })
    assert.deepEqual(await threads('1'), { before: 0, after: 1 })
  })

  it('ignores a value that is not a whole number from 1 to 1024', async function () {
    for (const bad of ['0', 'two', '-2', '99999']) {
      assert.deepEqual(await threads(bad), { before: 0, after: Math.min(Math.max(cores, 1), 4) }, bad)
    }
  })
})
