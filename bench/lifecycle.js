'use strict'
// The RSS plateau after short connection lifecycles (issue 10): a connection
// pair (a client and a server end in this process, permessage-deflate
// negotiated at its defaults) opens, sends one JSON message each way (about
// 600 B up, 1.5 KB down) and closes; 100 of them at a time, 20,000 in all.
// RSS is taken at the start, right after the 20,000, after GC and some idle
// seconds, and after another 20,000 (again after GC and idle): flat means
// memory is kept for reuse, growing means a leak. V8 keeps its young
// generation's semi-spaces (up to 32 MiB) committed after some GCs and not
// others, whatever the implementation, so the RSS outside V8's heap (RSS less
// V8's committed heap: native memory, the malloc heaps, code pages) is given
// beside it. Each implementation runs in a child process of its own, side by
// side in one run. RSS only: fine while the machine is busy, no timing.
//
//   node bench/lifecycle.js [lifecycles]        (default 20000 per round)
//   LIFECYCLE_IMPLS=ours node bench/lifecycle.js  (some implementations only)
//   LIFECYCLE_DETAIL=1 ...   also V8's heap, external memory and the anonymous
//                            part of RSS (/proc/self/smaps_rollup) per phase
//   LIFECYCLE_IDLE=5000 ...  idle milliseconds before each GC'd reading

const { execFileSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const IMPLS = (process.env.LIFECYCLE_IMPLS || 'ours,original,ws').split(',')
const LABELS = {
  ours: 'websocket-extensions-rs + its deflate (defaults)',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7',
  ws: 'ws 8 PerMessageDeflate'
}
const CONCURRENT = 100
const IDLE = Number(process.env.LIFECYCLE_IDLE || 5000)
const MiB = 1048576

function json (i, len) {
  const fields = { id: i, type: 'update', channel: '/room/' + (i % 50), at: 1700000000000 + i * 7919, items: [] }
  let n = 0
  while (JSON.stringify(fields).length < len) fields.items.push({ n: n++, user: 'user' + ((i * 31 + n) % 997), ok: n % 3 === 0, text: 'message text ' + ((i + n) % 13) })
  return Buffer.from(JSON.stringify(fields))
}

function frame (data, rsv1) {
  return { opcode: 1, fin: true, rsv1, rsv2: false, rsv3: false, data }
}

// One lifecycle through two containers (this package or the original):
// negotiate, one message each way, close both ends.
function containerLifecycle (name) {
  const Extensions = name === 'ours' ? require('..') : require('websocket-extensions-original')
  const deflate = name === 'ours' ? require('../deflate') : require('permessage-deflate')
  return async (i) => {
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
          if (message.data.length !== data.length) return reject(new Error('round trip changed the message'))
          resolve()
        })
      })
    })
    await send(client, server, json(i, 600))
    await send(server, client, json(i + 1, 1500))
    await new Promise((resolve) => {
      let open = 2
      const closed = () => { if (--open === 0) resolve() }
      client.close(closed)
      server.close(closed)
    })
  }
}

// The same with ws's PerMessageDeflate on both ends, negotiated through ws's
// own header format and parser; cleanup() is what ws does on close.
function wsLifecycle () {
  const wsLib = path.join(path.dirname(require.resolve('ws')), 'lib')
  const PerMessageDeflate = require(path.join(wsLib, 'permessage-deflate.js'))
  const ext = require(path.join(wsLib, 'extension.js'))
  return async (i) => {
    const client = new PerMessageDeflate({})
    const server = new PerMessageDeflate({ isServer: true })
    server.accept(ext.parse(ext.format({ [PerMessageDeflate.extensionName]: client.offer() }))[PerMessageDeflate.extensionName])
    client.accept(ext.parse(ext.format({ [PerMessageDeflate.extensionName]: server.params }))[PerMessageDeflate.extensionName])
    const send = (from, to, data) => new Promise((resolve, reject) => {
      from.compress(data, true, (error, wire) => {
        if (error) return reject(error)
        to.decompress(wire, true, (error, message) => {
          if (error) return reject(error)
          if (message.length !== data.length) return reject(new Error('round trip changed the message'))
          resolve()
        })
      })
    })
    await send(client, server, json(i, 600))
    await send(server, client, json(i + 1, 1500))
    client.cleanup()
    server.cleanup()
  }
}

function reading () {
  const usage = process.memoryUsage()
  const out = { rss: usage.rss, heapTotal: usage.heapTotal }
  if (process.env.LIFECYCLE_DETAIL) {
    out.external = usage.external
    try {
      const rollup = fs.readFileSync('/proc/self/smaps_rollup', 'utf8')
      const kib = (key) => Number((rollup.match(new RegExp('^' + key + ':\\s+(\\d+) kB', 'm')) || [0, 0])[1]) * 1024
      out.anonymous = kib('Anonymous')
      out.file = kib('Rss') - kib('Anonymous')
    } catch (error) {
      // Not Linux: RSS and V8's figures only.
    }
  }
  return out
}

async function child (name, count) {
  const settle = async (idle) => {
    await new Promise((resolve) => setTimeout(resolve, idle))
    for (let i = 0; i < 3; i++) { global.gc(); await new Promise((resolve) => setTimeout(resolve, 300)) }
  }
  const lifecycle = name === 'ws' ? wsLifecycle() : containerLifecycle(name)
  const round = async (offset) => {
    for (let start = 0; start < count; start += CONCURRENT) {
      const batch = []
      for (let i = start; i < Math.min(count, start + CONCURRENT); i++) batch.push(lifecycle(offset + i * 2))
      await Promise.all(batch)
    }
  }
  // Load everything and warm up before the baseline.
  await lifecycle(0)
  await settle(300)
  const phases = { start: reading() }
  await round(0)
  phases.after = reading()
  await settle(IDLE)
  phases.idle = reading()
  await round(count * 2)
  await settle(IDLE)
  phases.again = reading()
  const stats = name === 'ours' ? require('../deflate').stats() : null
  process.stdout.write(JSON.stringify({ name, count, phases, stats }))
}

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4])).catch((error) => { console.error(error); process.exit(1) })
} else {
  const count = Number(process.argv[2] || 20000)
  const mib = (bytes) => (bytes / MiB).toFixed(1)
  const signed = (bytes) => (bytes >= 0 ? '+' : '') + mib(bytes)
  const over = (phase, start) => signed(phase.rss - start.rss)
  const outside = (phase, start) => signed((phase.rss - phase.heapTotal) - (start.rss - start.heapTotal))
  console.log(`${count} lifecycles per round (open, one message each way, close; ${CONCURRENT} at a time); RSS in MiB, and above the start; idle ${IDLE} ms and GC before the last two`)
  console.log('| implementation | start | after ' + count + ' | after GC and idle | outside V8 heap | after another ' + count + ' | outside V8 heap |')
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const name of IMPLS) {
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', __filename, '--child', name, String(count)], { maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] }))
    const { start, after, idle, again } = out.phases
    console.log(`| ${LABELS[name]} | ${mib(start.rss)} | ${mib(after.rss)} (${over(after, start)}) | ${mib(idle.rss)} (${over(idle, start)}) | ${outside(idle, start)} | ${mib(again.rss)} (${over(again, start)}) | ${outside(again, start)} |`)
    if (process.env.LIFECYCLE_DETAIL) {
      for (const phase of ['start', 'after', 'idle', 'again']) {
        const p = out.phases[phase]
        process.stderr.write(`  ${name} ${phase}: rss ${mib(p.rss)}, V8 heap ${mib(p.heapTotal)}, external ${mib(p.external)}, anonymous ${mib(p.anonymous)}, file-backed ${mib(p.file)} MiB\n`)
      }
      if (out.stats) process.stderr.write(`  ${name} stats: ${JSON.stringify(out.stats)}\n`)
    }
  }
}
