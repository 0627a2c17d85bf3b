'use strict'
/* eslint-env mocha */
// Issue 10: deflate sessions in a worker_thread whose environment ends. Each
// of 50 workers makes resting and live sessions (a restAfter timer set) and
// sends a 4 MiB message to an offload worker; then it is terminated, exits
// with process.exit while the message is in flight, or ends on its own. The
// main thread keeps compressing meanwhile; afterwards no session of a worker
// is left (deflate.stats().processSessions counts every thread's) and RSS
// has stopped growing with the workers.

const assert = require('assert/strict')
const path = require('path')
const { once } = require('events')
const { Worker } = require('worker_threads')
const deflate = require('websocket-extensions-rs/deflate')

const SCENARIOS = path.join(__dirname, '..', 'support', 'deflate-threads.js')
const WORKERS = 50
const MODES = ['terminate', 'exit', 'natural']

function run (session, dir, data) {
  return new Promise((resolve, reject) => {
    const method = dir === 'out' ? 'processOutgoingMessage' : 'processIncomingMessage'
    session[method]({ rsv1: dir !== 'out', opcode: 1, data }, (error, out) => error ? reject(error) : resolve(out))
  })
}

async function oneWorker (mode) {
  const worker = new Worker(SCENARIOS, { workerData: { scenario: 'envEnd', mode } })
  const messages = []
  worker.on('message', (message) => messages.push(message))
  const exited = once(worker, 'exit')
  const errored = once(worker, 'error').then(([error]) => { throw error })
  await Promise.race([once(worker, 'message'), errored])
  const { ready } = messages[0]
  if (mode === 'terminate') await worker.terminate()
  const [code] = await Promise.race([exited, errored])
  return { ready, code, last: messages[messages.length - 1] }
}

describe('permessage-deflate sessions in a worker_thread whose environment ends (issue 10)', function () {
  this.timeout(300000)

  it(`${WORKERS} workers terminated, exiting or ending with resting, live and working sessions: the main thread goes on, nothing of theirs is left`, async function () {
    const ext = deflate.configure({})
    const client = ext.createClientSession({})
    const server = ext.createServerSession([client.generateOffer()], {})
    assert.ok(client.activate(server.generateResponse()))
    const text = Buffer.from(JSON.stringify({ main: 'thread', pad: 'x'.repeat(500) }))
    const before = deflate.stats().processSessions
    let rssAt10 = 0
    const codes = {}
    for (let i = 0; i < WORKERS; i++) {
      const mode = MODES[i % MODES.length]
      const { ready, code, last } = await oneWorker(mode)
      // 2 resting, 3 live and 1 working pair: 12 sessions.
      assert.equal(ready.sessions, 12, JSON.stringify(ready))
      assert.ok(ready.liveStates >= 6 && ready.resting >= 4, JSON.stringify(ready))
      if (mode === 'natural') assert.equal(last.result.sessions, 12, JSON.stringify(last))
      codes[mode] = (codes[mode] || []).concat(code)
      // The main thread's session works between the workers.
      const wire = await run(client, 'out', Buffer.from(text))
      assert.deepEqual((await run(server, 'in', wire.data)).data, text)
      if (i === 9) rssAt10 = process.memoryUsage.rss()
    }
    const grown = (process.memoryUsage.rss() - rssAt10) / 1048576
    const after = deflate.stats().processSessions
    console.log(`      RSS from worker 10 to ${WORKERS}: ${grown >= 0 ? '+' : ''}${grown.toFixed(1)} MiB; sessions in the process: ${before} before, ${after} after`)
    assert.equal(codes.terminate.length, Math.ceil(WORKERS / MODES.length))
    assert.deepEqual(codes.exit.filter((c) => c !== 0), [])
    assert.deepEqual(codes.natural.filter((c) => c !== 0), [])
    // Every worker's 12 sessions are gone (the main thread may have freed
    // some of its own meanwhile).
    assert.ok(after <= before, `${before} before, ${after} after`)
    // Each worker held about 4 MiB of live zlib state and a 4 MiB message:
    // 40 workers' worth left behind would be hundreds of MiB.
    assert.ok(grown < 64, `RSS grew ${grown.toFixed(1)} MiB over ${WORKERS - 10} workers`)
    client.close()
    server.close()
  })
})
