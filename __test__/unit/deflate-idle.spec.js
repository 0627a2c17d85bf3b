'use strict'
/* eslint-env mocha */
// Issue 10: restAfter, the idle time after which a session rests whatever the
// liveStates budget says, and sessions that rest while a worker thread has
// their message. deflate.stats() is per thread, so each scenario runs in a
// worker_thread of its own, where only its sessions count.

const assert = require('assert/strict')
const path = require('path')
const { once } = require('events')
const { Worker } = require('worker_threads')

const SCENARIOS = path.join(__dirname, '..', 'support', 'deflate-threads.js')

// Runs a scenario of deflate-threads.js in a new worker_thread; resolves
// with what it returns, rejects with what it throws.
async function inWorker (scenario, options = {}) {
  const worker = new Worker(SCENARIOS, { workerData: { scenario, ...options } })
  const [[message], [code]] = await Promise.all([once(worker, 'message'), once(worker, 'exit')])
  assert.equal(code, 0)
  if (message.error) throw new Error(message.error)
  return message.result
}

describe('permessage-deflate restAfter: sessions rest when idle (issue 10)', function () {
  this.timeout(60000)

  it('with no message to trigger it, the idle timer rests sessions idle for restAfter; the next message wakes them with their history', async function () {
    const result = await inWorker('idleRest')
    // Two pairs, four sessions, eight directions.
    assert.equal(result.live.liveStates, 8, JSON.stringify(result.live))
    assert.equal(result.rested.resting, 8, JSON.stringify(result.rested))
    assert.ok(result.rested.historyBytes > 0)
    assert.equal(result.rested.liveStateBytes, 0)
    for (const i of [0, 1]) assert.ok(result.woken[i] < result.first[i] / 4, JSON.stringify(result))
    assert.ok(result.after.liveStates >= 2, JSON.stringify(result.after))
  })

  it('a session that works more often than restAfter stays live and never re-primes', async function () {
    const result = await inWorker('steady')
    assert.ok(result.checked > 0, 'no gap was shorter than restAfter')
    assert.equal(result.rested, 0, JSON.stringify(result))
  })

  it('restAfter 0 never sets a timer; the default (30 s) sets one unref\'d timer per thread', async function () {
    const result = await inWorker('timers')
    assert.equal(result.off.set, 0, JSON.stringify(result))
    assert.equal(result.off.stats.liveStates, 12)
    assert.equal(result.default.set, 1, JSON.stringify(result))
    assert.equal(result.default.unrefd, 1)
  })

  it('the idle timer does not keep a worker alive: it exits on its own with live sessions and a long restAfter', async function () {
    // If the timer held the worker's event loop, it would stay for ten
    // minutes and the test would time out.
    const result = await inWorker('longRestAfter')
    assert.equal(result.liveStates, 8, JSON.stringify(result))
  })

  it('a session asked to rest while its 4 MiB message is on a worker thread goes on: the message arrives whole, and its stream goes on after it rests', async function () {
    const result = await inWorker('restWhileWorking')
    assert.ok(result.smallTrips > 0)
    assert.ok(result.wire < 4 << 20, JSON.stringify(result))
    // Only the client sent the large message: its compressor refers back.
    assert.ok(result.after[0] < 400, JSON.stringify(result))
  })
})
