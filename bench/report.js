'use strict'
// Turns the runner's results into bench/results.md (tables and the targets
// of issue 5, each PASS or MISS), bench/results.json and bench/throughput.svg.

const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { num, range, times } = require('./stats')
const { DEFLATE_LABELS, LABELS } = require('./impls')

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
  const { roundtrip, burst } = figures
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
  return table(['target (issue 5)', 'measured (medians)', 'result'],
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

// The tables, as printed at the end of a run and written to results.md.
function summary (results) {
  const f = results.figures
  const parts = []
  if (results.targets.length > 0) parts.push('## Targets\n\n' + targetTable(results))
  if (figureList(f).length > 0) parts.push('## Container\n\n' + containerTable(f))
  if (f.roundtrip) parts.push('## Deflate round trip\n\n' + roundtripTable(f))
  if (f.roundtrip && f.roundtrip[0].codec) parts.push('## The limit: the codec alone, in Rust\n\n' + codecTable(f))
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

## How each figure is measured

- **Pipeline**: a server container with 1 or 3 pass-through JavaScript sessions, each answering synchronously (and one variant answering on a microtask, messages sent 1,000 at a time); time per message from the call to the driver's callback.
- **validFrameRsv**: a container with permessage-deflate active, over a mix of text, binary, compressed, continuation and control frames.
- **Handshake**: what a server does per connection: \`new Extensions()\`, \`add(deflate)\`, \`generateResponse('permessage-deflate; client_max_window_bits')\`, \`close()\`. Ours with its native deflate, the original with permessage-deflate 0.1.7.
- **Deflate round trip**: a fresh negotiated client/server pair per sample (through the containers; for ws, two PerMessageDeflate objects negotiated with offer/accept); the client compresses a message and the server decompresses it, then the next message goes. Default options everywhere (level 6, memLevel 8, 15 window bits, context takeover). The corpus is generated JSON chat and market events (bench/corpus.js, seeded), batched into messages of at most the target size; every message is distinct. MB/s counts uncompressed bytes; compression is uncompressed : compressed bytes. The warm-up round checks every message byte for byte. Both peers hand every message to libuv's thread pool and back, once to compress and once to decompress, so at small sizes their figures are mostly that hand-off, whose cost depends on how the machine schedules threads (on a small VM, an idle machine wakes them more slowly than a busy one); the CPU column, which counts all threads, shows it. ws's own Sender skips compression below 1 KiB (its \`threshold\` option); here every message is compressed, as permessage-deflate 0.1.7 and this package do.
- **The limit**: core/examples/codec_bench.rs runs the same serial loop in Rust on the same bytes (written to a file by bench/corpus.js), with flate2 on zlib-rs (the engine alone, with the output buffer sized exactly) and with this crate's \`Compressor\`/\`Decompressor\`. It takes its turn among the implementations in every round, one warm-up pass then one timed pass per turn.
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

// Samples are kept in the JSON, so a later reader can recompute anything.
function write (results) {
  fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify(results, null, 2) + '\n')
  fs.writeFileSync(path.join(__dirname, 'results.md'), markdown(results))
  if (results.figures.roundtrip) fs.writeFileSync(path.join(__dirname, 'throughput.svg'), svg(results))
}

module.exports = { machine, sizeLabel, targets, summary, write }
