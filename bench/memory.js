'use strict'
// Memory per idle connection (issue 10): N connection pairs (a client and a
// server end in this process) exchange three JSON messages each way (about
// 600 B up, 1.5 KB down), then sit idle; after GC, the RSS above the
// baseline, per pair. Each implementation and size runs in a child process
// of its own, side by side in one run. RSS only: fine while the machine is
// busy, no timing.
//
//   node bench/memory.js [pairs...]      (default: 1000 5000 20000)
//   MEMORY_IMPLS=ours node bench/memory.js 20000   (some implementations only;
//   the peers need about 500 KiB a pair, 10 GiB at 20,000)
//
// As a module: measure(impl, pairs, liveStates) runs one child and gives
// { kibPerPair, totalMiB, stats } (bench/run.js's memory section and
// bench/rest-sweep.js use it; liveStates applies to 'ours' only).

const { execFileSync } = require('child_process')
const path = require('path')

const IMPLS = (process.env.MEMORY_IMPLS || 'ours,original,ws').split(',')
const LABELS = {
  ours: 'websocket-extensions-rs + its deflate (defaults)',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7',
  ws: 'ws 8 PerMessageDeflate'
}

function json (i, len) {
  const fields = { id: i, type: 'update', channel: '/room/' + (i % 50), at: 1700000000000 + i * 7919, items: [] }
  let n = 0
  while (JSON.stringify(fields).length < len) fields.items.push({ n: n++, user: 'user' + ((i * 31 + n) % 997), ok: n % 3 === 0, text: 'message text ' + ((i + n) % 13) })
  return Buffer.from(JSON.stringify(fields))
}

function frame (data, rsv1) {
  return { opcode: 1, fin: true, rsv1, rsv2: false, rsv3: false, data }
}

function containerPair (name, liveStates) {
  const Extensions = name === 'ours' ? require('..') : require('websocket-extensions-original')
  let deflate = name === 'ours' ? require('websocket-extensions-rs/deflate') : require('permessage-deflate')
  if (liveStates !== undefined) deflate = deflate.configure({ liveStates })
  const client = new Extensions()
  client.add(deflate)
  const server = new Extensions()
  server.add(deflate)
  client.activate(server.generateResponse(client.generateOffer()))
  const send = (from, to, data) => new Promise((resolve, reject) => {
    from.processOutgoingMessage(frame(data, false), (error, out) => {
      if (error) return reject(error)
      to.processIncomingMessage(frame(out.data, out.rsv1), (error, message) => {
        if (error) return reject(error)
        resolve(message.data.length)
      })
    })
  })
  const close = () => new Promise((resolve) => {
    let open = 2
    const closed = () => { if (--open === 0) resolve() }
    client.close(closed)
    server.close(closed)
  })
  return { up: (d) => send(client, server, d), down: (d) => send(server, client, d), close }
}

// cleanup() is what ws does on close.
function wsPair () {
  const wsLib = path.join(path.dirname(require.resolve('ws')), 'lib')
  const PerMessageDeflate = require(path.join(wsLib, 'permessage-deflate.js'))
  const ext = require(path.join(wsLib, 'extension.js'))
  const client = new PerMessageDeflate({})
  const server = new PerMessageDeflate({ isServer: true })
  server.accept(ext.parse(ext.format({ [PerMessageDeflate.extensionName]: client.offer() }))[PerMessageDeflate.extensionName])
  client.accept(ext.parse(ext.format({ [PerMessageDeflate.extensionName]: server.params }))[PerMessageDeflate.extensionName])
  const send = (from, to, data) => new Promise((resolve, reject) => {
    from.compress(data, true, (error, wire) => {
      if (error) return reject(error)
      to.decompress(wire, true, (error, message) => error ? reject(error) : resolve(message.length))
    })
  })
  const close = async () => { client.cleanup(); server.cleanup() }
  return { up: (d) => send(client, server, d), down: (d) => send(server, client, d), close }
}

// A negotiated pair of the implementation `name` ('ours', 'original', 'ws'):
// up(data) and down(data) resolve to the length that came out; close()
// closes both ends.
function pairFor (name, liveStates) {
  return name === 'ws' ? wsPair() : containerPair(name, liveStates)
}

async function child (name, count, liveStates) {
  const settle = async () => {
    for (let i = 0; i < 3; i++) { global.gc(); await new Promise((resolve) => setTimeout(resolve, 300)) }
  }
  const make = () => pairFor(name, liveStates)
  // Load everything and warm up before the baseline.
  await make().up(json(0, 600))
  await settle()
  const before = process.memoryUsage().rss
  const pairs = []
  const BATCH = 200
  for (let start = 0; start < count; start += BATCH) {
    const batch = []
    for (let i = start; i < Math.min(count, start + BATCH); i++) {
      const pair = make()
      pairs.push(pair)
      batch.push((async () => {
        for (let m = 0; m < 3; m++) {
          await pair.up(json(i * 3 + m, 600))
          await pair.down(json(i * 3 + m + 1, 1500))
        }
      })())
    }
    await Promise.all(batch)
  }
  await new Promise((resolve) => setTimeout(resolve, 2000))
  await settle()
  const after = process.memoryUsage().rss
  const stats = name === 'ours' ? require('websocket-extensions-rs/deflate').stats() : null
  process.stdout.write(JSON.stringify({ name, count, before, after, pairs: pairs.length, stats }))
}

// One child process: KiB of RSS per idle pair, the total, and (ours) the
// thread's deflate.stats().
function measure (name, count, liveStates) {
  const args = ['--expose-gc', __filename, '--child', name, String(count)]
  if (liveStates !== undefined) args.push(String(liveStates))
  const out = JSON.parse(execFileSync(process.execPath, args, { maxBuffer: 1 << 20 }))
  return { kibPerPair: (out.after - out.before) / 1024 / count, totalMiB: (out.after - out.before) / 1048576, stats: out.stats }
}

module.exports = { json, pairFor, measure, LABELS }

if (require.main === module && process.argv[2] === '--child') {
  const liveStates = process.argv[5] === undefined ? undefined : Number(process.argv[5])
  child(process.argv[3], Number(process.argv[4]), liveStates).catch((error) => { console.error(error); process.exit(1) })
} else if (require.main === module) {
  const sizes = process.argv.slice(2).map(Number)
  const counts = sizes.length ? sizes : [1000, 5000, 20000]
  console.log('| pairs | ' + IMPLS.map((n) => LABELS[n]).join(' | ') + ' |')
  console.log('| --- |' + IMPLS.map(() => ' --- |').join(''))
  for (const count of counts) {
    const cells = IMPLS.map((name) => {
      const out = measure(name, count)
      if (out.stats) process.stderr.write(`ours at ${count}: ${JSON.stringify(out.stats)}\n`)
      return `${out.kibPerPair.toFixed(1)} KiB/pair (${out.totalMiB.toFixed(0)} MiB)`
    })
    console.log(`| ${count} | ${cells.join(' | ')} |`)
  }
}
