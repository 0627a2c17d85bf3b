'use strict'
/* eslint-env mocha */
// The package's JavaScript loaded twice in one thread over one native addon
// (jest's resetModules, require.cache cleared and required again, mocha
// --watch, two paths to the package). The addon keeps one offload callback
// and one idle-timer function per thread, so every copy's sessions must be
// served by whatever copy registered last: large messages (done on a worker
// thread) from sessions of both copies, at the same time, must each come back
// whole, in order, to the session that sent them.

const assert = require('assert/strict')
const crypto = require('crypto')
const fs = require('fs')
const path = require('path')
const vm = require('vm')
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads')

const ROOT = path.resolve(__dirname, '..', '..')
const deflate = require('websocket-extensions-rs/deflate')
const native = require('../../lib/binding')

// Loads websocket-extensions-rs/deflate again as a second copy: every module of the package out of
// require.cache (the addon too when `addon` is true, so it is dlopen'd
// again), required again, then the cache put back as it was.
function secondCopy (addon) {
  const saved = {}
  for (const key of Object.keys(require.cache)) {
    if (!key.startsWith(ROOT + path.sep) || key.includes(`${path.sep}node_modules${path.sep}`)) continue
    if (key.includes(`${path.sep}__test__${path.sep}`)) continue
    if (key.endsWith('.node') && !addon) continue
    saved[key] = require.cache[key]
    delete require.cache[key]
  }
  try {
    const copy = require('websocket-extensions-rs/deflate')
    const copyNative = require('../../lib/binding')
    return { deflate: copy, native: copyNative }
  } finally {
    Object.assign(require.cache, saved)
  }
}

// Loads websocket-extensions-rs/deflate again in a new vm context, as jest loads each test file's
// modules: the package's JavaScript evaluated in that context (its own
// globalThis), the addon and Node's modules from the real require (one addon
// exports object for all contexts), Buffer and Uint8Array from this one, as
// jest-environment-node gives them.
function copyInContext () {
  const context = vm.createContext({ Buffer, Uint8Array, FinalizationRegistry, WeakMap, Map, Symbol, JSON, process, console })
  const loaded = new Map()
  function load (file) {
    if (loaded.has(file)) return loaded.get(file).exports
    const module = { exports: {} }
    loaded.set(file, module)
    const source = fs.readFileSync(file, 'utf8')
    const wrapper = vm.runInContext(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, context, { filename: file })
    const dir = path.dirname(file)
    const localRequire = (id) => {
      if (!id.startsWith('.')) return require(id)
      const resolved = require.resolve(path.resolve(dir, id))
      return resolved.endsWith('.node') ? require(resolved) : load(resolved)
    }
    wrapper(module.exports, localRequire, module, file, dir)
    return module.exports
  }
  return { deflate: load(require.resolve('websocket-extensions-rs/deflate')), context }
}

function run (session, dir, message) {
  return new Promise((resolve, reject) => {
    const method = dir === 'out' ? 'processOutgoingMessage' : 'processIncomingMessage'
    session[method](message, (error, out) => error ? reject(error) : resolve(out))
  })
}

function pair (ext) {
  const client = ext.createClientSession({})
  const server = ext.createServerSession([client.generateOffer()], {})
  assert.ok(server)
  assert.ok(client.activate(server.generateResponse()))
  return { client, server }
}

// A message well above the offload thresholds (64 KiB to compress, 16 KiB
// compressed to inflate), compressible but different for each sender.
function large (tag, i) {
  const seed = crypto.createHash('sha256').update(`${tag}:${i}`).digest('hex')
  return Buffer.from(`${tag} ${i} `.repeat(20000) + seed.repeat(4000))
}

// Sends `count` large messages from the client of `p` to its server without
// waiting between them; resolves with what the server received, in the
// order it received it.
async function send (p, tag, count) {
  const sent = []
  const compressed = []
  for (let i = 0; i < count; i++) {
    const data = large(tag, i)
    sent.push(data)
    compressed.push(run(p.client, 'out', { data, rsv1: false, rsv2: false, rsv3: false, opcode: 2, fin: true }))
  }
  const received = []
  for (const message of await Promise.all(compressed)) {
    assert.equal(message.rsv1, true)
    received.push(run(p.server, 'in', message))
  }
  return { sent, received: (await Promise.all(received)).map((m) => m.data) }
}

// In a worker_thread of its own (deflate.stats() counts this thread's
// sessions only): a pair from each copy, restAfter 20 ms, one message each
// way, after the second copy registered its idle timer; resolves once the
// thread's idle timer has rested all four sessions (eight directions).
async function restScenario (addon) {
  const copy = secondCopy(addon)
  const pairs = [pair(deflate.configure({ restAfter: 20 })), pair(copy.deflate.configure({ restAfter: 20 }))]
  for (const p of pairs) {
    const data = Buffer.from('hello '.repeat(100))
    const sent = await run(p.client, 'out', { data, rsv1: false, rsv2: false, rsv3: false, opcode: 1, fin: true })
    const back = await run(p.server, 'in', sent)
    assert.ok(back.data.equals(data))
    const reply = await run(p.server, 'out', { data, rsv1: false, rsv2: false, rsv3: false, opcode: 1, fin: true })
    assert.ok((await run(p.client, 'in', reply)).data.equals(data))
  }
  assert.equal(deflate.stats().sessions, 4)
  // Until the timer has rested them all (the test's timeout otherwise).
  while (deflate.stats().resting < 8) await new Promise((resolve) => setTimeout(resolve, 10))
  const stats = deflate.stats()
  for (const p of pairs) {
    p.client.close()
    p.server.close()
  }
  return stats
}

function inWorker (addon) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: { restScenario: true, addon } })
    worker.once('message', (message) => message.error ? reject(new Error(message.error)) : resolve(message.stats))
    worker.once('error', reject)
  })
}

if (!isMainThread && workerData && workerData.restScenario) {
  restScenario(workerData.addon).then(
    (stats) => parentPort.postMessage({ stats }),
    (error) => parentPort.postMessage({ error: String(error && error.stack) }))
} else {
  describe('the package loaded twice over one addon', tests)
}

function tests () {
  for (const addon of [false, true]) {
    const how = addon ? 'the addon dlopen\'d again' : 'the addon loaded once'
    it(`the idle timer rests sessions of both copies (restAfter; ${how})`, async function () {
      const stats = await inWorker(addon)
      assert.equal(stats.resting, 8)
      assert.equal(stats.liveStates, 0)
    })
  }

  for (const addon of [false, true]) {
    const how = addon ? 'the addon dlopen\'d again' : 'the addon loaded once'
    it(`sessions of both copies get their own offloaded results (${how})`, async function () {
      const copy = secondCopy(addon)
      assert.notEqual(copy.deflate, deflate, 'the second copy is a new module')
      const a = pair(deflate)
      const b = pair(copy.deflate)
      const results = await Promise.all([send(a, 'first', 6), send(b, 'second', 6)])
      for (const { sent, received } of results) {
        assert.equal(received.length, sent.length)
        for (let i = 0; i < sent.length; i++) assert.ok(received[i].equals(sent[i]), `message ${i}`)
      }
      for (const p of [a, b]) {
        p.client.close()
        p.server.close()
      }
    })
  }

  it('sessions of both copies get their own offloaded results (the second copy in a vm context of its own, as jest loads it)', async function () {
    const copy = copyInContext()
    assert.notEqual(vm.runInContext('globalThis', copy.context), globalThis)
    assert.notEqual(copy.deflate, deflate)
    const a = pair(deflate)
    const b = pair(copy.deflate)
    const results = await Promise.all([send(a, 'first', 6), send(b, 'second', 6)])
    for (const { sent, received } of results) {
      assert.equal(received.length, sent.length)
      for (let i = 0; i < sent.length; i++) assert.ok(received[i].equals(sent[i]), `message ${i}`)
    }
    for (const p of [a, b]) {
      p.client.close()
      p.server.close()
    }
  })

  it('process.dlopen of the same .node runs its init again, giving new exports over the same per-thread state', function () {
    const file = Object.keys(require.cache).find((key) => key.startsWith(ROOT) && key.endsWith('.node'))
    assert.ok(file, 'the addon is in require.cache')
    const again = { exports: {} }
    process.dlopen(again, file)
    assert.notEqual(again.exports, native)
    assert.equal(typeof again.exports.deflateStats, 'function')
    const before = again.exports.deflateStats().sessions
    const p = pair(deflate)
    // Sessions made through the first exports count in the second's stats.
    assert.equal(again.exports.deflateStats().sessions, before + 2)
    assert.deepEqual(again.exports.deflateStats(), native.deflateStats())
    p.client.close()
    p.server.close()
  })
}
