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
const { json, pairFor } = require('./memory')

const IMPLS = (process.env.LIFECYCLE_IMPLS || 'ours,original,ws').split(',')
const LABELS = {
  ours: 'websocket-extensions-rs + its deflate (defaults)',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7',
  ws: 'ws 8 PerMessageDeflate'
}
const CONCURRENT = 100
const IDLE = Number(process.env.LIFECYCLE_IDLE || 5000)
const MiB = 1048576

// One lifecycle: negotiate a pair (bench/memory.js makes it, as for memory
// per idle pair), one message each way, close both ends.
async function lifecycle (name, i) {
  const pair = pairFor(name)
  for (const [send, data] of [[pair.up, json(i, 600)], [pair.down, json(i + 1, 1500)]]) {
    if (await send(data) !== data.length) throw new Error('round trip changed the message')
  }
  await pair.close()
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
  const round = async (offset) => {
    for (let start = 0; start < count; start += CONCURRENT) {
      const batch = []
      for (let i = start; i < Math.min(count, start + CONCURRENT); i++) batch.push(lifecycle(name, offset + i * 2))
      await Promise.all(batch)
    }
  }
  // Load everything and warm up before the baseline.
  await lifecycle(name, 0)
  await settle(300)
  const phases = { start: reading() }
  await round(0)
  phases.after = reading()
  await settle(IDLE)
  phases.idle = reading()
  await round(count * 2)
  await settle(IDLE)
  phases.again = reading()
  const stats = name === 'ours' ? require('websocket-extensions-rs/deflate').stats() : null
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
