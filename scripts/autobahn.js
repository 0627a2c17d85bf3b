#!/usr/bin/env node
// `npm run autobahn`: the Autobahn|Testsuite (autobahntestsuite 25.10.1, in a
// Python 2.7 virtualenv that scripts/autobahn/setup.sh makes in .autobahn/)
// against faye-websocket 0.11.4 + websocket-driver 0.8.0 running this package
// as their `websocket-extensions`, with its native permessage-deflate:
//
//   as server: an echo server (scripts/autobahn/peer.js) and
//              `wstest -m fuzzingclient` connecting to it;
//   as client: `wstest -m fuzzingserver` and an echo client connecting to it.
//
// Cases 1.* to 13.* except 9.* (the performance cases), 127.0.0.1 only. Prints
// a table per mode (cases passed, non-strict, informational, unimplemented,
// failed, by section), writes it as markdown, and exits 1 when a case of 12.*
// or 13.* (permessage-deflate) fails for this package, or a run breaks.
//
// Options:
//   --impl ours,original,ws  what to test (default ours): this package; the
//                            original websocket-extensions 0.2.0 +
//                            permessage-deflate 0.1.7 under the same drivers;
//                            ws 8 with perMessageDeflate. The reference
//                            implementations are reported, never fail the run.
//   --mode server|client|both  (default both)
//   --cases 12.1.1,13.3.*    only these cases (wstest's patterns: * matches
//                            anything, and a pattern matches any case id it
//                            begins, so 12.1.1* takes 12.1.10 too)
//   --ci (or --quick)        the CI subset: cases of every 12.x and 13.x group
//                            and a sample of every other section
//   --set NAME               file the runs under this set (default: full, ci
//                            or custom), e.g. a bounded run of a slow
//                            implementation with the full set's other rows
//   --md FILE                where to write the markdown (default: for the full
//                            set docs/autobahn.md, else .autobahn/<set>.md); it
//                            holds every implementation's last run of the set
//   --report                 run nothing: write the markdown from the last runs
// Reports (wstest's HTML and JSON) go to .autobahn/reports/<set>/<impl>-<mode>/.
'use strict'

const childProcess = require('child_process')
const fs = require('fs')
const net = require('net')
const path = require('path')
const readline = require('readline')

const ROOT = path.join(__dirname, '..')
const WORK = path.join(ROOT, '.autobahn')
const PYTHON = path.join(WORK, 'venv', 'bin', 'python')
const WSTEST = path.join(__dirname, 'autobahn', 'wstest.py')
const PEER = path.join(__dirname, 'autobahn', 'peer.js')

const SECTIONS = [
  ['1', 'Framing'],
  ['2', 'Pings/Pongs'],
  ['3', 'Reserved bits'],
  ['4', 'Opcodes'],
  ['5', 'Fragmentation'],
  ['6', 'UTF-8'],
  ['7', 'Close'],
  ['10', 'Misc'],
  ['12', 'Deflate, payloads'],
  ['13', 'Deflate, parameters']
]
const DEFLATE_SECTIONS = new Set(['12', '13'])

const IMPLS = {
  ours: 'this package',
  original: 'websocket-extensions 0.2.0 + permessage-deflate 0.1.7',
  ws: 'ws 8'
}

const MODES = {
  server: 'As server: `wstest -m fuzzingclient` against an echo server',
  client: 'As client: an echo client against `wstest -m fuzzingserver`'
}

// The CI subset: sections 1 to 10 whole (a few seconds), and in every 12.x
// and 13.x group (the groups differ in payload or negotiated parameters) the
// cases of 16 B and 4 KiB messages and of 8 KiB messages in 256 B fragments.
// Larger messages where they matter most: 64 KiB (this package compresses
// their echo on a worker thread) in text and with a 9-bit window, with and
// without context takeover, and 128 KiB in 4 KiB fragments. Listed one by
// one: wstest's patterns match prefixes ("12.1.1*" takes 12.1.10 too).
const CI_CASES = ['1.*', '2.*', '3.*', '4.*', '5.*', '6.*', '7.*', '10.*']
for (const [section, groups] of [[12, 5], [13, 7]]) {
  for (let group = 1; group <= groups; group++) {
    for (const size of [1, 5, 11]) CI_CASES.push(`${section}.${group}.${size}`)
  }
}
CI_CASES.push('12.3.9', '13.3.9', '13.5.9', '12.1.17', '13.3.17')

function parseArgs (argv) {
  const options = { impls: ['ours'], modes: ['server', 'client'], cases: null, set: 'full', md: null, report: false }
  let set = null
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) usage('missing value for ' + arg)
      return argv[++i]
    }
    if (arg === '--impl') {
      options.impls = value().split(',')
      for (const impl of options.impls) if (!IMPLS[impl]) usage('unknown implementation ' + impl)
    } else if (arg === '--mode') {
      const mode = value()
      if (mode === 'both') options.modes = ['server', 'client']
      else if (MODES[mode]) options.modes = [mode]
      else usage('unknown mode ' + mode)
    } else if (arg === '--cases') {
      options.cases = value().split(',').filter(Boolean)
      options.set = 'custom'
    } else if (arg === '--ci' || arg === '--quick') {
      options.cases = CI_CASES
      options.set = 'ci'
    } else if (arg === '--set') {
      set = value()
      if (!/^[\w-]+$/.test(set)) usage('a set is named with letters, digits, - and _')
    } else if (arg === '--md') {
      options.md = path.resolve(value())
    } else if (arg === '--report') {
      options.report = true
    } else {
      usage('unknown option ' + arg)
    }
  }
  if (set) options.set = set
  if (!options.md) {
    options.md = options.set === 'full' ? path.join(ROOT, 'docs', 'autobahn.md') : path.join(WORK, options.set + '.md')
  }
  return options
}

function usage (text) {
  console.error('autobahn: ' + text)
  console.error('usage: npm run autobahn -- [--impl ours,original,ws] [--mode server|client|both] [--cases 12.1.1,13.3.*] [--ci] [--set NAME] [--md FILE] [--report]')
  process.exit(2)
}

// --- Processes --------------------------------------------------------------

const children = new Set()

function start (command, args, options) {
  const child = childProcess.spawn(command, args, { cwd: ROOT, ...options })
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

function stopAll () {
  for (const child of children) child.kill('SIGTERM')
}

process.on('exit', stopAll)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopAll()
    process.exit(130)
  })
}

function exited (child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}

function firstLine (child, what) {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout })
    lines.once('line', (line) => resolve(JSON.parse(line)))
    child.on('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready`)))
  })
}

function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port
      server.close(() => resolve(port))
    })
  })
}

async function waitForPort (port, child) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error('wstest exited (' + child.exitCode + ') before it listened')
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.on('connect', () => { socket.destroy(); resolve(true) })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('wstest did not listen on 127.0.0.1:' + port)
}

// wstest's output goes to a log; a line a minute says how far it is.
function wstest (mode, spec, log, label) {
  const out = fs.openSync(log, 'w')
  const child = start(PYTHON, ['-u', WSTEST, '-m', mode, '-s', spec, '-u', '0'], { stdio: ['ignore', 'pipe', out] })
  let last = null
  let count = 0
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    fs.writeSync(out, line + '\n')
    const match = /Running test case ID (\S+)/.exec(line)
    if (match) { last = match[1]; count++ }
  })
  const started = Date.now()
  const timer = setInterval(() => {
    const minutes = Math.round((Date.now() - started) / 60000)
    console.log(`  ${label}: ${minutes} min, ${count} cases started` + (last ? `, at ${last}` : ''))
  }, 60000)
  child.on('exit', () => clearInterval(timer))
  return child
}

// --- Running ----------------------------------------------------------------

function caseSpec (options) {
  return options.cases ? { cases: options.cases, 'exclude-cases': [] } : { cases: ['*'], 'exclude-cases': ['9.*'] }
}

async function runServerMode (impl, options, dir) {
  const peerLog = path.join(dir, 'peer.log')
  const peer = start(process.execPath, [PEER, 'server', impl], { stdio: ['pipe', 'pipe', fs.openSync(peerLog, 'w')] })
  const { port, stack } = await firstLine(peer, 'the echo server')
  const spec = path.join(dir, 'spec.json')
  fs.writeFileSync(spec, JSON.stringify({
    outdir: path.join(dir, 'report'),
    servers: [{ agent: impl, url: `ws://127.0.0.1:${port}` }],
    ...caseSpec(options)
  }, null, 2))
  const code = await exited(wstest('fuzzingclient', spec, path.join(dir, 'wstest.log'), `${impl} server`))
  if (peer.exitCode !== null || peer.signalCode !== null) {
    throw new Error(`the echo server stopped during the run (${peer.exitCode ?? peer.signalCode}); see ${peerLog}`)
  }
  peer.kill('SIGTERM')
  await exited(peer)
  if (code !== 0) throw new Error(`wstest -m fuzzingclient exited with ${code}; see ${path.join(dir, 'wstest.log')}`)
  return stack
}

async function runClientMode (impl, options, dir) {
  const port = await freePort()
  const spec = path.join(dir, 'spec.json')
  fs.writeFileSync(spec, JSON.stringify({
    url: `ws://127.0.0.1:${port}`,
    outdir: path.join(dir, 'report'),
    ...caseSpec(options)
  }, null, 2))
  const server = wstest('fuzzingserver', spec, path.join(dir, 'wstest.log'), `${impl} client`)
  try {
    await waitForPort(port, server)
    const peerLog = path.join(dir, 'peer.log')
    const peer = start(process.execPath, [PEER, 'client', impl, `ws://127.0.0.1:${port}`, impl], { stdio: ['ignore', 'pipe', fs.openSync(peerLog, 'w')] })
    const { stack } = await firstLine(peer, 'the echo client')
    const code = await exited(peer)
    if (code !== 0) throw new Error(`the echo client exited with ${code}; see ${peerLog}`)
    return stack
  } finally {
    server.kill('SIGTERM')
    await exited(server)
  }
}

// --- Results ----------------------------------------------------------------

const KINDS = [
  ['OK', 'passed'],
  ['NON-STRICT', 'non-strict'],
  ['INFORMATIONAL', 'informational'],
  ['UNIMPLEMENTED', 'unimplemented'],
  ['FAILED', 'failed']
]
// Close behaviours that make an otherwise passing case a failure.
const BAD_CLOSE = new Set(['FAILED', 'UNCLEAN', 'WRONG CODE'])

function caseKey (id) {
  return id.split('.').map(Number)
}

function byCase (a, b) {
  const x = caseKey(a)
  const y = caseKey(b)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0)
  }
  return 0
}

function summarize (reportDir, agent) {
  const index = JSON.parse(fs.readFileSync(path.join(reportDir, 'index.json'), 'utf8'))[agent]
  if (!index) throw new Error('no results for ' + agent + ' in ' + reportDir)
  const sections = {}
  const notOk = []
  for (const id of Object.keys(index).sort(byCase)) {
    const result = index[id]
    const section = id.split('.')[0]
    const counts = sections[section] || (sections[section] = { total: 0, passed: 0, 'non-strict': 0, informational: 0, unimplemented: 0, failed: 0, 'bad close': 0 })
    const kind = (KINDS.find(([behavior]) => behavior === result.behavior) || [null, 'failed'])[1]
    counts.total++
    counts[kind]++
    const badClose = BAD_CLOSE.has(result.behaviorClose)
    if (badClose) counts['bad close']++
    if (kind !== 'passed' || result.behaviorClose !== 'OK') {
      let detail = {}
      try {
        detail = JSON.parse(fs.readFileSync(path.join(reportDir, result.reportfile), 'utf8'))
      } catch (error) {}
      notOk.push({ id, behavior: result.behavior, behaviorClose: result.behaviorClose, result: detail.result, resultClose: detail.resultClose })
    }
  }
  return { sections, notOk, cases: Object.keys(index).length }
}

// A case fails the run when it fails, is unimplemented (deflate not
// negotiated) or closes badly.
function failures (summary, onlyDeflate) {
  return summary.notOk.filter((c) => (!onlyDeflate || DEFLATE_SECTIONS.has(c.id.split('.')[0])) &&
    (c.behavior === 'FAILED' || c.behavior === 'UNIMPLEMENTED' || BAD_CLOSE.has(c.behaviorClose)))
}

function cell (counts) {
  if (!counts) return '-'
  const notes = []
  if (counts['non-strict']) notes.push(counts['non-strict'] + ' NS')
  if (counts.informational) notes.push(counts.informational + ' I')
  if (counts.unimplemented) notes.push(counts.unimplemented + ' U')
  if (counts.failed) notes.push(counts.failed + ' F')
  if (counts['bad close']) notes.push(counts['bad close'] + ' C')
  return `${counts.passed}/${counts.total}` + (notes.length ? ` (${notes.join(', ')})` : '')
}

function total (summary) {
  const sum = { total: 0, passed: 0, 'non-strict': 0, informational: 0, unimplemented: 0, failed: 0, 'bad close': 0 }
  for (const counts of Object.values(summary.sections)) {
    for (const key of Object.keys(sum)) sum[key] += counts[key]
  }
  return sum
}

function minutes (seconds) {
  return seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`
}

function isFull (run) {
  return run.cases.length === 1 && run.cases[0] === '*'
}

function casesOf (run) {
  return run.cases.join(', ')
}

function table (runs, mode) {
  const rows = runs.filter((run) => run.mode === mode)
  if (!rows.length) return []
  const lines = [
    '| implementation | ' + SECTIONS.map(([id, name]) => `${id} ${name}`).join(' | ') + ' | all | time |',
    '| --- | ' + SECTIONS.map(() => '---').join(' | ') + ' | --- | --- |'
  ]
  for (const run of rows) {
    const subset = isFull(run) ? '' : ' (subset)'
    lines.push(`| ${IMPLS[run.impl]}${subset} | ` + SECTIONS.map(([id]) => cell(run.summary.sections[id])).join(' | ') +
      ` | ${cell(total(run.summary))} | ${minutes(run.seconds)} |`)
  }
  return lines
}

function markdown (runs, options) {
  const every = runs.filter(isFull).length
  const selection = every === runs.length
    ? 'cases 1.* to 13.* except 9.* (the performance cases)'
    : every
      ? 'cases 1.* to 13.* except 9.* (the performance cases) where a row does not say "subset"'
      : 'cases ' + [...new Set(runs.map(casesOf))].join('; ')
  const lines = [
    '# Autobahn|Testsuite',
    '',
    'Written by `npm run autobahn` (scripts/autobahn.js): autobahntestsuite 25.10.1',
    `(Python 2.7) over 127.0.0.1, ${selection}.`,
    'Each implementation\'s last run; the date and the stack of each run are',
    'listed below the tables.',
    '',
    'The faye-websocket rows run faye-websocket 0.11.4 and websocket-driver 0.8.0;',
    'times are wall-clock on a shared machine, mostly wstest\'s own (Python 2).',
    '',
    'A cell: cases passed (OK) of the cases run. NS: non-strict (accepted, not',
    'what the RFC prefers), I: informational (no verdict), U: unimplemented',
    '(for 12.* and 13.*: permessage-deflate not negotiated), F: failed,',
    'C: closed uncleanly or with a wrong code.',
    ''
  ]
  for (const mode of Object.keys(MODES)) {
    const rows = table(runs, mode)
    if (!rows.length) continue
    lines.push('## ' + MODES[mode], '', ...rows, '')
  }
  lines.push('## Runs', '')
  for (const run of runs) {
    const cases = isFull(run) ? '' : ` (${casesOf(run)})`
    lines.push(`- ${run.impl}, as ${run.mode}: ${run.date}, ${run.summary.cases} cases${cases} in ${minutes(run.seconds)}; ${run.stack}.`)
  }
  lines.push('')
  const odd = runs.filter((run) => run.summary.notOk.length)
  if (odd.length) {
    lines.push('## Cases not passed cleanly', '')
    for (const run of odd) {
      lines.push(`${IMPLS[run.impl]}, as ${run.mode}:`, '')
      const groups = new Map()
      for (const c of run.summary.notOk) {
        const why = [c.result, c.behaviorClose !== 'OK' ? c.resultClose : null].filter(Boolean).join(' / ')
        const text = `${c.behavior}, close ${c.behaviorClose}` + (why ? `: ${why.replace(/\s+/g, ' ').slice(0, 200)}` : '')
        groups.set(text, (groups.get(text) || []).concat(c.id))
      }
      for (const [text, ids] of groups) lines.push(`- ${ids.join(', ')}: ${text}`)
      lines.push('')
    }
  }
  return lines.join('\n')
}

function printTable (run) {
  const counts = total(run.summary)
  console.log(`  ${run.impl} as ${run.mode}: ${counts.passed}/${counts.total} passed, ${counts['non-strict']} non-strict, ` +
    `${counts.informational} informational, ${counts.unimplemented} unimplemented, ${counts.failed} failed, ` +
    `${counts['bad close']} bad closes (${minutes(run.seconds)})`)
  const width = Math.max(...SECTIONS.map(([id, name]) => id.length + name.length + 1))
  for (const [id, name] of SECTIONS) {
    const counts = run.summary.sections[id]
    if (counts) console.log(`    ${(id + ' ' + name).padEnd(width)}  ${cell(counts)}`)
  }
}

function loadRuns (set) {
  const dir = path.join(WORK, 'results', set)
  if (!fs.existsSync(dir)) return []
  const order = Object.keys(IMPLS)
  return fs.readdirSync(dir).filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')))
    .sort((a, b) => order.indexOf(a.impl) - order.indexOf(b.impl) || (a.mode === 'server' ? -1 : 1))
}

// --- Main -------------------------------------------------------------------

async function main () {
  const options = parseArgs(process.argv.slice(2))
  let failed = false
  if (!options.report) {
    const setup = childProcess.spawnSync('bash', [path.join(__dirname, 'autobahn', 'setup.sh')], { cwd: ROOT, stdio: 'inherit' })
    if (setup.status !== 0) throw new Error('could not make the Python 2.7 virtualenv (scripts/autobahn/setup.sh)')
    fs.mkdirSync(path.join(WORK, 'results', options.set), { recursive: true })
    for (const impl of options.impls) {
      for (const mode of options.modes) {
        const dir = path.join(WORK, 'reports', options.set, `${impl}-${mode}`)
        fs.rmSync(dir, { recursive: true, force: true })
        fs.mkdirSync(dir, { recursive: true })
        console.log(`autobahn: ${IMPLS[impl]} as ${mode}` + (options.cases ? ', cases ' + options.cases.join(',') : ''))
        const started = Date.now()
        let run
        try {
          const stack = await (mode === 'server' ? runServerMode : runClientMode)(impl, options, dir)
          const summary = summarize(path.join(dir, 'report'), impl)
          run = { impl, mode, stack, summary, cases: caseSpec(options).cases, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', seconds: (Date.now() - started) / 1000 }
        } catch (error) {
          console.error(`autobahn: ${impl} as ${mode}: ${error.message}`)
          if (impl === 'ours') failed = true
          continue
        }
        fs.writeFileSync(path.join(WORK, 'results', options.set, `${impl}-${mode}.json`), JSON.stringify(run, null, 2))
        printTable(run)
        const bad = failures(run.summary, true)
        if (bad.length) {
          console.log(`  ${impl} as ${mode}: ${bad.length} permessage-deflate cases not passed: ${bad.map((c) => c.id).join(', ')}` +
            `; see ${path.relative(process.cwd(), dir)} (peer.log, wstest.log, report/)`)
          if (impl === 'ours') failed = true
        }
      }
    }
  }
  const runs = loadRuns(options.set)
  if (runs.length) {
    fs.mkdirSync(path.dirname(options.md), { recursive: true })
    fs.writeFileSync(options.md, markdown(runs, options))
    console.log('autobahn: tables in ' + path.relative(process.cwd(), options.md) + ', reports in ' + path.relative(process.cwd(), path.join(WORK, 'reports', options.set)))
  }
  return failed ? 1 : 0
}

main().then((code) => { process.exitCode = code }, (error) => {
  console.error('autobahn: ' + (error.stack || error))
  process.exitCode = 1
})
