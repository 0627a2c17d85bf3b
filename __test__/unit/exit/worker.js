'use strict'
// Issue 16: a worker_thread that ends with deflate sessions open.
//
//   node __test__/exit/worker.js <mode> <main ending> [main state]
//
// The worker sets up pairs.js's state `live1` plus a few pairs (or `largeOut`
// for the modes ending in `-large`, an 8 MiB message on the offload pool),
// tells the main thread, and ends as <mode> says: `exit` (process.exit(9)
// in the worker), `natural` (its event loop ends), `terminate` (the main
// thread calls worker.terminate()). The main thread, with the state
// [main state] set up first if given, prints `worker exit <code>` and then
// ends as <main ending> says (see child.js: natural, or exit with a code).

const { Worker, isMainThread, parentPort, workerData } = require('worker_threads')
const { states, pairs, end } = require('./pairs')

const WORKER_EXIT = 9

async function worker ({ mode }) {
  const large = mode.endsWith('-large')
  const { fire } = await states[large ? 'largeOut' : 'live1']()
  await pairs(4, 3)
  parentPort.postMessage('ready')
  if (fire) fire()
  if (mode.startsWith('exit')) return process.exit(WORKER_EXIT)
  // Alive until terminated.
  if (mode.startsWith('terminate')) setInterval(() => {}, 1000)
}

async function main ([mode, mainEnding, mainState]) {
  if (mainState) await states[mainState]()
  const thread = new Worker(__filename, { workerData: { mode } })
  thread.on('message', () => {
    if (mode.startsWith('terminate')) thread.terminate()
  })
  thread.on('error', (error) => {
    process.stderr.write(`worker error: ${error.stack}\n`)
    process.exit(2)
  })
  thread.on('exit', (code) => {
    process.stdout.write(`worker exit ${code}\n`)
    if (mainEnding !== 'natural') end('exit', Number(mainEnding))
  })
}

const started = isMainThread ? main(process.argv.slice(2)) : worker(workerData)
started.catch((error) => {
  process.stderr.write(`exit child failed: ${error.stack}\n`)
  process.exit(2)
})
