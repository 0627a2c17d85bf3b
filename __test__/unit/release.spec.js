'use strict'
// Issue 16, release at close: when a container has closed (every session
// closed, the close callbacks called) its native state and its deflate
// sessions are freed at once, not when V8 collects their objects. Counted
// with deflate.stats() (`containers`, `sessions`: this thread's tables), so
// nothing here waits for or forces a garbage collection. Each case runs in a
// worker_thread of its own (release/worker.js), so that what other specs
// left for the collector in this thread cannot move the counts.

const path = require('path')
const { Worker } = require('worker_threads')
const cases = require('./release/cases')

const describeNative = process.env.WSX_IMPL === 'original' ? describe.skip : describe

function inWorker (name) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'release', 'worker.js'), { workerData: name })
    let outcome = null
    worker.on('message', (message) => { outcome = message })
    worker.on('error', reject)
    worker.on('exit', (code) => {
      if (outcome === null) return reject(new Error(`the worker exited with ${code} before it answered`))
      if (!outcome.ok) return reject(new Error(outcome.error))
      resolve()
    })
  })
}

describeNative('release at close (native state freed when a container closes)', function () {
  for (const name of Object.keys(cases)) {
    it(name, function () {
      return inWorker(name)
    })
  }
})
