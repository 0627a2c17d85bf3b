'use strict'
// Runs one case of cases.js (workerData) and posts its outcome.
const { parentPort, workerData } = require('worker_threads')
const cases = require('./cases')

cases[workerData]().then(
  () => parentPort.postMessage({ ok: true }),
  (error) => parentPort.postMessage({ ok: false, error: error && error.stack ? error.stack : String(error) })
)
