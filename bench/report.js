'use strict'
// Turns the runner's results into bench/results.md (tables and the targets
// of issues 5 and 10, each PASS or MISS), bench/results.json,
// bench/throughput.svg and bench/memory.svg.

const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { num, range, times } = require('./stats')
const { DEFLATE_LABELS, LABELS, NEVER_REST } = require('./impls')

const root = path.join(__dirname, '..')

function sizeLabel (size) {
  if (size >= 1048576) return size / 1048576 + ' MiB'
  if (size >= 1024) return size / 1024 + ' KiB'
  return size + ' B'
}

function lockedVersion (crate) {
  const lock = fs.readFileSync(path.join(root, 'Cargo.lock'), 'utf8')
  const match = lock.match(new RegExp('name = "' + crate + '"\\nversion = "([^"]+)"'))
  return match ? match[1] : 'unknown'
}

function packageVersion (name) {
  return require(path.join(root, 'node_modules', name, 'package.json')).version
}

function machine ({ rounds, quick }) {
  const rustc = spawnSync('rustc', ['-V'], { encoding: 'utf8' })
  return {
    date: new Date().toISOString(),
    rounds,
    quick,
    machine: {
      cpu: os.cpus()[0].model.trim(),
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      os: os.type() + ' ' + os.release() + ' ' + os.arch(),
      loadStart: os.loadavg().map((x) => +x.toFixed(2))
    },
    versions: {
      node: process.version,
      v8: process.versions.v8,
      nodeZlib: process.versions.zlib,
      rustc: rustc.status === 0 ? rustc.stdout.trim() : 'unknown',
      zlibRs: lockedVersion('zlib-rs'),
      napi: lockedVersion('napi'),
      original: packageVersion('websocket-extensions-original'),
      permessageDeflate: packageVersion('permessage-deflate'),
      ws: packageVersion('ws')
    }
  }
}

const PEERS = ['original', 'ws']
const figureList = (figures) => [].concat(figures.pipeline || [], figures.rsv || [], figures.handshake || [])

// The targets of issue 5, each measured on medians.
function targets (figures) {
  const list = []
  const add = (text, measured, pass) => list.push({ text, measured, pass })
  const { roundtrip, burst, memory } = figures
  for (const row of memory || []) {
    const ours = row.impls.ours.kibPerPair
    const better = Math.min(...PEERS.map((peer) => row.impls[peer].kibPerPair))
    const share = ours / better
    add('Memory per idle pair at ' + row.pairs.toLocaleString('en-US') + ' pairs: at most a quarter of the better peer\'s (goal: a tenth)',
      num(ours) + ' vs ' + num(better) + ' KiB (' + Math.round(share * 100) + '%)', share <= 0.25)
  }
  for (const row of roundtrip || []) {
    const base = row.impls.baseline
    if (!base) continue
    const speed = row.impls.ours.mbPerSecond.median / base.mbPerSecond.median
    add('Deflate round trip at ' + sizeLabel(row.size) + ': no more than 5% slower than ' + DEFLATE_LABELS.baseline,
      times(speed), speed >= 0.95)
    const compression = row.impls.ours.compression / base.compression
    add('Compression at ' + sizeLabel(row.size) + ': within 1% of ' + DEFLATE_LABELS.baseline,
      num(row.impls.ours.compression) + ' vs ' + num(base.compression) + ' : 1', compression >= 0.99)
  }
  for (const row of roundtrip || []) {
    const ours = row.impls.ours.mbPerSecond.median
    const goal = row.size <= 4096 ? 20 : row.size >= 1048576 ? 1.3 : null
    if (goal === null) continue
    for (const peer of PEERS) {
      const speedup = ours / row.impls[peer].mbPerSecond.median
      add('Deflate round trip at ' + sizeLabel(row.size) + ': at least ' + goal + 'x the throughput of ' + DEFLATE_LABELS[peer],
        times(speedup), speedup >= goal)
    }
  }
  for (const row of roundtrip || []) {
    if (!row.codec || row.size < 65536) continue
    const share = row.impls.ours.mbPerSecond.median / row.codec.flate2.mbPerSecond.median
    add('Deflate round trip at ' + sizeLabel(row.size) + ': at least 70% of the raw codec\'s throughput',
      Math.round(share * 100) + '%', share >= 0.7)
  }
  if (burst) {
    const ours = burst.impls.ours
    for (const peer of PEERS) {
      const them = burst.impls[peer]
      const speedup = them.timeMs.median / ours.timeMs.median
      add('Burst: at least 10x faster than ' + DEFLATE_LABELS[peer], times(speedup), speedup >= 10)
    }
    for (const peer of PEERS) {
      const them = burst.impls[peer]
      add('Burst: no more KiB of RSS per pair than ' + DEFLATE_LABELS[peer],
        num(ours.kibPerPair.median) + ' vs ' + num(them.kibPerPair.median) + ' KiB', ours.kibPerPair.median <= them.kibPerPair.median)
    }
    for (const peer of PEERS) {
      const them = burst.impls[peer]
      const share = ours.keptMiB.median / them.keptMiB.median
      add('Burst: at most a quarter of the RSS ' + DEFLATE_LABELS[peer] + ' keeps after close',
        num(ours.keptMiB.median) + ' vs ' + num(them.keptMiB.median) + ' MiB (' + Math.round(share * 100) + '%)',
        ours.keptMiB.median <= them.keptMiB.median / 4)
    }
  }
  for (const figure of figureList(figures)) {
    const ratio = figure.impls.ours.median / figure.impls.original.median
    const handshake = figure.id.startsWith('handshake')
    const goal = figure.id === 'valid-frame-rsv' ? 1.5 : handshake ? 1 : 3
    const what = handshake ? 'no slower than the original' : 'at most ' + goal + 'x the original\'s time'
    add(capitalize(figure.label) + ': ' + what, times(ratio), ratio <= goal)
  }
  return list
}

function capitalize (text) {
  return text[0].toUpperCase() + text.slice(1)
}

function table (head, rows) {
  const line = (cells) => '| ' + cells.join(' | ') + ' |'
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}

function targetTable (results) {
  return table(['target (issues 5 and 10)', 'measured (medians)', 'result'],
    results.targets.map((t) => [t.text, t.measured, t.pass ? 'PASS' : '**MISS**']))
}

function containerTable (figures) {
  return table(
    ['figure', LABELS.ours, LABELS.original, 'ours / original (time: lower is better)'],
    figureList(figures).map((f) => [
      f.label + ' (' + f.unit + ')',
      range(f.impls.ours),
      range(f.impls.original),
      times(f.impls.ours.median / f.impls.original.median)
    ]))
}

function roundtripTable (figures) {
  const rows = []
  for (const row of figures.roundtrip) {
    for (const impl of ['ours', ...PEERS]) {
      const r = row.impls[impl]
      const speedup = impl === 'ours'
        ? '-'
        : times(row.impls.ours.mbPerSecond.median / r.mbPerSecond.median)
      rows.push([
        sizeLabel(row.size) + ' (' + num(row.meanBytes) + ' B mean, ' + row.messages + ' messages)',
        DEFLATE_LABELS[impl],
        range(r.msgsPerSecond),
        range(r.mbPerSecond),
        num(r.cpuUsPerMessage.median),
        num(r.compression) + ' : 1',
        speedup
      ])
    }
  }
  return table(['size', 'implementation', 'messages/s (min / median / max)', 'MB/s (min / median / max)', 'CPU µs per message, all threads (median)', 'compression', 'ours is faster by (throughput ours / this)'], rows)
}

function codecTable (figures) {
  const rows = []
  for (const row of figures.roundtrip) {
    const c = row.codec
    if (!c) continue
    const ours = row.impls.ours.mbPerSecond.median
    rows.push([
      sizeLabel(row.size),
      range(c.flate2.mbPerSecond),
      range(c.core.mbPerSecond),
      num(ours),
      Math.round(ours / c.flate2.mbPerSecond.median * 100) + '%'
    ])
  }
  return table(['size', 'flate2 on zlib-rs, MB/s', 'this crate\'s codec types, MB/s', 'this package through the containers, MB/s (median)', 'share of flate2'], rows)
}

function burstTable (burst) {
  return table(
    ['implementation', 'burst time, ms', 'CPU time, all threads, ms', 'KiB RSS per pair (open, after the burst)', 'RSS kept after close, MiB', 'connect all pairs, ms', 'KiB per pair before sending (no GC)', 'ours is faster by (time this / ours)'],
    ['ours', ...PEERS].map((impl) => {
      const b = burst.impls[impl]
      return [
        DEFLATE_LABELS[impl],
        range(b.timeMs),
        range(b.cpuMs),
        range(b.kibPerPair),
        range(b.keptMiB),
        range(b.connectMs),
        range(b.connectedKibPerPair),
        impl === 'ours' ? '-' : times(b.timeMs.median / burst.impls.ours.timeMs.median)
      ]
    }))
}

// This code against the baseline checkout (run.js --baseline), in the same
// run: throughput and compression, flagged past 5% slower or 1% worse.
function baselineTable (figures) {
  const rows = figures.roundtrip.filter((row) => row.impls.baseline).map((row) => {
    const ours = row.impls.ours
    const base = row.impls.baseline
    const speed = ours.mbPerSecond.median / base.mbPerSecond.median
    const compression = ours.compression / base.compression
    return [
      sizeLabel(row.size),
      range(ours.mbPerSecond),
      range(base.mbPerSecond),
      times(speed) + (speed < 0.95 ? ' **more than 5% slower**' : ''),
      num(ours.cpuUsPerMessage.median) + ' vs ' + num(base.cpuUsPerMessage.median),
      num(ours.compression) + ' vs ' + num(base.compression) + ' : 1',
      times(compression) + (compression < 0.99 ? ' **more than 1% worse**' : '')
    ]
  })
  return table(['size', 'this code, MB/s (min / median / max)', DEFLATE_LABELS.baseline + ', MB/s', 'throughput this / that (flag below 0.95x)',
    'CPU µs per message (medians)', 'compression this vs that', 'compression this / that (flag below 0.99x)'], rows)
}

const TURN_IMPLS = ['ours', 'ours-live', 'original', 'ws']

function rotationTable (rows) {
  const out = []
  for (const row of rows) {
    for (const impl of TURN_IMPLS) {
      const r = row.impls[impl]
      out.push([
        row.pairs.toLocaleString('en-US'),
        DEFLATE_LABELS[impl],
        range(r.us),
        num(r.cpuUs.median),
        impl === 'ours' ? '-' : times(r.us.median / row.impls.ours.us.median)
      ])
    }
  }
  return table(['pairs', 'implementation', 'µs per round trip (min / median / max)', 'CPU µs per round trip, all threads (median)', 'this / ours (time)'], out)
}

function echoTable (rows) {
  const out = []
  for (const row of rows) {
    for (const impl of TURN_IMPLS) {
      const r = row.impls[impl]
      out.push([
        row.connections.toLocaleString('en-US'),
        impl === 'ws' ? DEFLATE_LABELS.ws + ' as the server' : DEFLATE_LABELS[impl],
        range(r.serverUs),
        num(r.totalUs.median),
        impl === 'ours' ? '-' : times(r.serverUs.median / row.impls.ours.serverUs.median)
      ])
    }
  }
  return table(['connections', 'server', 'server µs per echo: inflate + deflate (min / median / max)', 'whole echo µs, ws client included (median)', 'this / ours (server time)'], out)
}

function wakeupTable (rows) {
  const out = []
  for (const row of rows) {
    const live = row.impls.live
    for (const impl of ['rested', 'live']) {
      const r = row.impls[impl]
      out.push([
        row.history + ', ' + row.pairs.toLocaleString('en-US') + ' pairs',
        impl === 'rested' ? 'resting before each message (liveStates 0)' : 'live (liveStates ' + NEVER_REST.toLocaleString('en-US') + ')',
        num(r.compressUs.median),
        num(r.inflateUs.median),
        range(r.totalUs),
        num(r.cpuUs.median),
        impl === 'live' ? '-' : times(r.totalUs.median / live.totalUs.median)
      ])
    }
  }
  return table(['history before', 'session', 'compress µs (median)', 'inflate µs (median)', 'µs per message, both (min / median / max)', 'CPU µs per message, whole pass (median)', 'rested / live'], out)
}

function memoryTable (rows) {
  const out = rows.map((row) => [
    row.pairs.toLocaleString('en-US'),
    ...['ours', ...PEERS].map((impl) => num(row.impls[impl].kibPerPair) + ' KiB (' + num(row.impls[impl].totalMiB) + ' MiB)'),
    Math.round(row.impls.ours.kibPerPair / Math.min(...PEERS.map((p) => row.impls[p].kibPerPair)) * 100) + '%'
  ])
  return table(['pairs', ...['ours', ...PEERS].map((impl) => DEFLATE_LABELS[impl] + ': RSS per idle pair (total)'), 'ours / the better peer'], out)
}

// The tables, as printed at the end of a run and written to results.md.
function summary (results) {
  const f = results.figures
  const parts = []
  if (results.targets.length > 0) parts.push('## Targets\n\n' + targetTable(results))
  if (figureList(f).length > 0) parts.push('## Container\n\n' + containerTable(f))
  if (f.roundtrip) parts.push('## Deflate round trip\n\n' + roundtripTable(f))
  if (f.roundtrip && f.roundtrip[0].codec) parts.push('## The limit: the codec alone, in Rust\n\n' + codecTable(f))
  if (f.roundtrip && f.roundtrip.some((row) => row.impls.baseline)) parts.push('## This code against ' + DEFLATE_LABELS.baseline + ', in the same run\n\n' + baselineTable(f))
  if (f.rotation) parts.push('## Round trips taken in turn across many pairs (100-byte JSON)\n\n' + rotationTable(f.rotation))
  if (f.echo) parts.push('## Server side of an echo against ws clients (100-byte JSON)\n\n' + echoTable(f.echo))
  if (f.wakeup) parts.push('## Wake-up: the first message after a session rested\n\n' + wakeupTable(f.wakeup))
  if (f.memory) parts.push('## Memory per idle connection pair\n\n' + memoryTable(f.memory))
  if (f.burst) parts.push('## Burst: ' + f.burst.pairs.toLocaleString('en-US') + ' connection pairs, one ' + sizeLabel(f.burst.size) + ' message each\n\n' + burstTable(f.burst))
  return parts.join('\n\n')
}

function markdown (results) {
  const { meta } = results
  const m = meta.machine
  const v = meta.versions
  const passed = results.targets.filter((t) => t.pass).length
  return `# Benchmark results

Made by \`npm run bench\`${meta.quick ? ' -- --quick' : ''} (bench/run.js) on ${meta.date.slice(0, 10)}; the run took ${meta.seconds} s.

- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}. Load average (1, 5, 15 min) ${m.loadStart.join(', ')} at the start and ${m.loadEnd.join(', ')} at the end (on a shared or busy machine single samples are noisy; compare medians).
- Node ${v.node} (V8 ${v.v8}, zlib ${v.nodeZlib}); ${v.rustc}; zlib-rs ${v.zlibRs}, napi-rs ${v.napi}.
- Peers: websocket-extensions ${v.original} with permessage-deflate ${v.permessageDeflate}; ws ${v.ws} PerMessageDeflate, used directly.
- ${meta.rounds} rounds after one warm-up round; within a round the implementations take turns, in an order that rotates from round to round, with a GC and an untimed stretch of the same work before each sample. Each figure is min / median / max over the rounds; ratios compare medians.

Targets met: ${passed} of ${results.targets.length}.

${summary(results)}

![Deflate round-trip throughput against message size](throughput.svg)
${results.figures.memory ? '\n![RSS per idle connection pair against the number of pairs](memory.svg)\n' : ''}
## How each figure is measured

- **Pipeline**: a server container with 1 or 3 pass-through JavaScript sessions, each answering synchronously (and one variant answering on a microtask, messages sent 1,000 at a time); time per message from the call to the driver's callback.
- **validFrameRsv**: a container with permessage-deflate active, over a mix of text, binary, compressed, continuation and control frames.
- **Handshake**: what a server does per connection: \`new Extensions()\`, \`add(deflate)\`, \`generateResponse('permessage-deflate; client_max_window_bits')\`, \`close()\`. Ours with its native deflate, the original with permessage-deflate 0.1.7. "One message each way" adds what a connection that sends pays: one \`processIncomingMessage\` of a small compressed message (made once up front by a client of the same implementation) and one \`processOutgoingMessage\` of about 100 B before \`close()\`, 100 connections at a time.
- **Deflate round trip**: a fresh negotiated client/server pair per sample (through the containers; for ws, two PerMessageDeflate objects negotiated with offer/accept); the client compresses a message and the server decompresses it, then the next message goes. Default options everywhere (level 6, memLevel 8, 15 window bits, context takeover). The corpus is generated JSON chat and market events (bench/corpus.js, seeded), batched into messages of at most the target size; every message is distinct. MB/s counts uncompressed bytes; compression is uncompressed : compressed bytes. The warm-up round checks every message byte for byte. Both peers hand every message to libuv's thread pool and back, once to compress and once to decompress, so at small sizes their figures are mostly that hand-off, whose cost depends on how the machine schedules threads (on a small VM, an idle machine wakes them more slowly than a busy one); the CPU column, which counts all threads, shows it. ws's own Sender skips compression below 1 KiB (its \`threshold\` option); here every message is compressed, as permessage-deflate 0.1.7 and this package do.
- **The limit**: core/examples/codec_bench.rs runs the same serial loop in Rust on the same bytes (written to a file by bench/corpus.js), with flate2 on zlib-rs (the engine alone, with the output buffer sized exactly) and with this crate's \`Compressor\`/\`Decompressor\`. It takes its turn among the implementations in every round, one warm-up pass then one timed pass per turn.
- **This code against an earlier commit**${meta.baseline ? ' (' + meta.baseline.commit + ')' : ''}: with \`--baseline=DIR\` (or \`WSX_BASELINE\`), a built checkout of this package at another commit takes part in the deflate round trips as one more implementation, loaded from its own index.js and deflate.js (and its own addon), in the same rounds. Throughput is flagged when this code is more than 5% slower, compression when it is more than 1% worse (issue 10's checks), so that a machine that is faster or slower today than on another day does not decide them.
- **Rotation**: N negotiated pairs (1, 100, 1,000); each takes one untimed message, then round trip i (client compresses, server decompresses, the next one once it is out) goes to pair i mod N, so at 100 pairs and up each message finds its session's state cold. Messages are the corpus's JSON batched to at most 100 B (about 96 B mean), all distinct. "liveStates 100,000" is this package with a budget no bench reaches, so nothing rests (as before resting sessions existed); the default budget is 64 sessions per thread, so from 100 pairs (200 sessions) most sessions rest between their messages.
- **Echo against ws clients**: N ws 8 PerMessageDeflate clients (in this process, negotiated through ws's header format) against server ends: this package's container with its deflate, the original's container with permessage-deflate 0.1.7, or ws's PerMessageDeflate as the server. Message i goes on connection i mod N: the client compresses it, the server inflates it and deflates it back, the client inflates the reply. The server's cost is timed directly: from each of its two calls (processIncomingMessage and processOutgoingMessage; ws: decompress and compress) to that call's callback, summed, so a peer's hand-off to the thread pool counts. One untimed echo per connection first.
- **Wake-up**: N pairs of this package each send a history each way (untimed), then one 100-byte message up through every pair and one down through every pair. With liveStates 0 every session has rested before its message, so each message is a wake-up (a pooled zlib state primed from the kept history); with liveStates 100,000 every state stayed live (but, at 1,000 pairs, out of the CPU's caches). The compressing call and the inflating call are timed apart, and the CPU time of the whole timed pass is read too (steadier on a busy machine); figures are per message, both directions together. The full-window history runs on half as many pairs.
- **Memory per idle pair**: bench/memory.js, one child process per implementation and size: N pairs exchange three JSON messages each way (about 600 B up, 1.5 KB down), wait 2 s, GC; RSS above the baseline taken before the pairs were made, per pair. One measurement per size (RSS, not time).
- **Burst**: each implementation in a fresh \`node --expose-gc\` process: ${results.figures.burst ? results.figures.burst.pairs.toLocaleString('en-US') : 'N'} negotiated pairs, then every client sends one distinct message at once; the time runs from the first send until the last message is decompressed. RSS figures are after a GC (except "before sending", read without one so as not to disturb the timed burst), less the RSS before the pairs were made; "kept" is read one second after all pairs were closed and dropped.
`
}

// A line chart of round-trip MB/s against message size, both on log scales,
// with a whisker from min to max at each point.
function svg (results) {
  const rows = results.figures.roundtrip
  const W = 760
  const H = 460
  const left = 70
  const right = 250
  const top = 50
  const bottom = 60
  const series = [
    { key: 'ours', label: DEFLATE_LABELS.ours, color: '#d9480f', dash: '' },
    { key: 'original', label: DEFLATE_LABELS.original, color: '#1c7ed6', dash: '' },
    { key: 'ws', label: DEFLATE_LABELS.ws, color: '#2b8a3e', dash: '' }
  ]
  const points = series.map((s) => rows.map((row) => ({ size: row.size, stats: row.impls[s.key].mbPerSecond })))
  if (rows[0].codec) {
    series.push({ key: 'codec', label: 'raw codec: flate2 on zlib-rs, Rust', color: '#495057', dash: '6 4' })
    points.push(rows.map((row) => ({ size: row.size, stats: row.codec.flate2.mbPerSecond })))
  }
  const all = points.flat().flatMap((p) => [p.stats.min, p.stats.max])
  // The axis runs between the nearest 1-2-5 steps around the data.
  const steps = (v) => [1, 2, 5, 10].map((m) => m * Math.pow(10, Math.floor(Math.log10(v))))
  const yMin = steps(Math.min(...all)).filter((t) => t <= Math.min(...all)).pop()
  const yMax = steps(Math.max(...all)).find((t) => t >= Math.max(...all))
  const xMin = Math.log2(rows[0].size)
  const xMax = Math.log2(rows[rows.length - 1].size)
  const x = (size) => left + (Math.log2(size) - xMin) / (xMax - xMin) * (W - left - right)
  const y = (v) => top + (1 - (Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (H - top - bottom)
  const f = (n) => n.toFixed(1)
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${left}" y="24" font-size="15" font-weight="bold">Deflate round trip: MB/s against message size (log scales)</text>`)
  out.push(`<text x="${left}" y="40" fill="#495057">median of ${results.meta.rounds} rounds, whiskers min to max; client compresses, server decompresses</text>`)
  for (let decade = Math.pow(10, Math.floor(Math.log10(yMin))); decade <= yMax; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m
      if (v < yMin * 0.999) continue
      if (v > yMax * 1.001) break
      out.push(`<line x1="${left}" x2="${W - right}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="${m === 1 ? '#ced4da' : '#f1f3f5'}"/>`)
      out.push(`<text x="${left - 6}" y="${f(y(v) + 4)}" text-anchor="end" fill="#495057">${+v.toPrecision(1)}</text>`)
    }
  }
  for (const row of rows) {
    out.push(`<line x1="${f(x(row.size))}" x2="${f(x(row.size))}" y1="${top}" y2="${H - bottom}" stroke="#f1f3f5"/>`)
    out.push(`<text x="${f(x(row.size))}" y="${H - bottom + 18}" text-anchor="middle" fill="#495057">${sizeLabel(row.size)}</text>`)
  }
  out.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#868e96"/>`)
  out.push(`<text x="${(left + W - right) / 2}" y="${H - 18}" text-anchor="middle">message size</text>`)
  out.push(`<text transform="translate(18 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">MB/s (uncompressed)</text>`)
  series.forEach((s, i) => {
    const ps = points[i]
    const line = ps.map((p) => f(x(p.size)) + ',' + f(y(p.stats.median))).join(' ')
    out.push(`<polyline points="${line}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    for (const p of ps) {
      out.push(`<line x1="${f(x(p.size))}" x2="${f(x(p.size))}" y1="${f(y(p.stats.min))}" y2="${f(y(p.stats.max))}" stroke="${s.color}" stroke-width="1.5"/>`)
      out.push(`<circle cx="${f(x(p.size))}" cy="${f(y(p.stats.median))}" r="3.5" fill="${s.color}"/>`)
    }
    const ly = top + 14 + i * 36
    out.push(`<line x1="${W - right + 16}" x2="${W - right + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    const words = s.label.split(' ')
    const half = Math.ceil(words.length / 2)
    const lines = s.label.length > 28 ? [words.slice(0, half).join(' '), words.slice(half).join(' ')] : [s.label]
    lines.forEach((text, k) => out.push(`<text x="${W - right + 46}" y="${ly + 4 + k * 14}">${escape(text)}</text>`))
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function escape (text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

// RSS per idle pair against the number of pairs (log scale), one line per
// implementation, each point labelled.
function memorySvg (results) {
  const rows = results.figures.memory
  const W = 760
  const H = 460
  const left = 70
  const right = 250
  const top = 50
  const bottom = 60
  const series = [
    { key: 'ours', label: DEFLATE_LABELS.ours + ' (defaults)', color: '#d9480f' },
    { key: 'original', label: DEFLATE_LABELS.original, color: '#1c7ed6' },
    { key: 'ws', label: DEFLATE_LABELS.ws, color: '#2b8a3e' }
  ]
  const all = rows.flatMap((row) => series.map((s) => row.impls[s.key].kibPerPair))
  const step = [50, 100, 200, 500, 1000].find((t) => Math.max(...all) / t <= 8) || 1000
  const yMax = Math.ceil(Math.max(...all) * 1.08 / step) * step
  const xs = rows.map((row) => Math.log10(row.pairs))
  const xMin = Math.min(...xs) - (xs.length > 1 ? 0 : 0.5)
  const xMax = Math.max(...xs) + (xs.length > 1 ? 0 : 0.5)
  const x = (pairs) => left + 20 + (Math.log10(pairs) - xMin) / (xMax - xMin) * (W - left - right - 40)
  const y = (v) => top + (1 - v / yMax) * (H - top - bottom)
  const f = (n) => n.toFixed(1)
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${left}" y="24" font-size="15" font-weight="bold">Memory per idle connection pair: KiB of RSS against pairs</text>`)
  out.push(`<text x="${left}" y="40" fill="#495057">three JSON messages each way, then idle, after GC; one child process per point (bench/memory.js)</text>`)
  for (let v = 0; v <= yMax; v += step) {
    out.push(`<line x1="${left}" x2="${W - right}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="${v === 0 ? '#868e96' : '#e9ecef'}"/>`)
    out.push(`<text x="${left - 6}" y="${f(y(v) + 4)}" text-anchor="end" fill="#495057">${v}</text>`)
  }
  for (const row of rows) {
    out.push(`<line x1="${f(x(row.pairs))}" x2="${f(x(row.pairs))}" y1="${top}" y2="${H - bottom}" stroke="#f1f3f5"/>`)
    out.push(`<text x="${f(x(row.pairs))}" y="${H - bottom + 18}" text-anchor="middle" fill="#495057">${row.pairs.toLocaleString('en-US')}</text>`)
  }
  out.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#868e96"/>`)
  out.push(`<text x="${(left + W - right) / 2}" y="${H - 18}" text-anchor="middle">connection pairs (log scale)</text>`)
  out.push(`<text transform="translate(18 ${(top + H - bottom) / 2}) rotate(-90)" text-anchor="middle">KiB of RSS per pair</text>`)
  series.forEach((s, i) => {
    const ps = rows.map((row) => ({ pairs: row.pairs, v: row.impls[s.key].kibPerPair }))
    out.push(`<polyline points="${ps.map((p) => f(x(p.pairs)) + ',' + f(y(p.v))).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`)
    for (const p of ps) {
      out.push(`<circle cx="${f(x(p.pairs))}" cy="${f(y(p.v))}" r="3.5" fill="${s.color}"/>`)
      // Labels of the two peers (close together) go above and below.
      const dy = s.key === 'ws' ? 16 : -8
      out.push(`<text x="${f(x(p.pairs))}" y="${f(y(p.v) + dy)}" text-anchor="middle" fill="${s.color}">${num(p.v)}</text>`)
    }
    const ly = top + 14 + i * 36
    out.push(`<line x1="${W - right + 16}" x2="${W - right + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`)
    const words = s.label.split(' ')
    const half = Math.ceil(words.length / 2)
    const lines = s.label.length > 28 ? [words.slice(0, half).join(' '), words.slice(half).join(' ')] : [s.label]
    lines.forEach((text, k) => out.push(`<text x="${W - right + 46}" y="${ly + 4 + k * 14}">${escape(text)}</text>`))
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

// Samples are kept in the JSON, so a later reader can recompute anything.
function write (results, dir = __dirname) {
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n')
  fs.writeFileSync(path.join(dir, 'results.md'), markdown(results))
  if (results.figures.roundtrip) fs.writeFileSync(path.join(dir, 'throughput.svg'), svg(results))
  if (results.figures.memory) fs.writeFileSync(path.join(dir, 'memory.svg'), memorySvg(results))
}

module.exports = { machine, sizeLabel, targets, summary, write, memorySvg }
