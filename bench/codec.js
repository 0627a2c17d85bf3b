'use strict'
// The limit: the DEFLATE engine alone, in Rust, on the very bytes the
// JavaScript round trip uses (core/examples/codec_bench.rs). It takes its
// turn among the JavaScript implementations in every round, so that all of
// them see the same load on the machine.

const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const corpus = require('./corpus')

const root = path.join(__dirname, '..')
const CARGO = process.env.CARGO || 'cargo'

// Compiles the example (cargo prints its progress) and returns its path.
function build () {
  const result = spawnSync(CARGO, ['build', '--release', '-p', 'websocket-extensions-core', '--example', 'codec_bench', '--message-format=json-render-diagnostics'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26
  })
  if (result.error || result.status !== 0) {
    throw new Error('could not build the codec bench: ' + (result.error || 'cargo exited with ' + result.status))
  }
  const artifact = result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line))
    .find((m) => m.reason === 'compiler-artifact' && m.target && m.target.name === 'codec_bench' && m.executable)
  if (!artifact) throw new Error('cargo did not report the codec bench executable')
  return artifact.executable
}

class CodecBench {
  constructor () {
    this.executable = build()
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsx-bench-'))
    this.files = new Map()
  }

  // Writes a corpus for the binary to read.
  add (size, messages) {
    const file = path.join(this.dir, 'corpus-' + size + '.bin')
    corpus.writeFile(file, messages)
    this.files.set(size, file)
  }

  // One measured round (after one warm-up round) on one corpus:
  // { flate2: { mbPerSecond, wireBytes, bytes }, core: { ... } }.
  round (size) {
    const result = spawnSync(this.executable, ['1', this.files.get(size)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (result.error || result.status !== 0) {
      throw new Error('the codec bench failed: ' + (result.error || 'exit code ' + result.status))
    }
    const out = {}
    for (const line of result.stdout.split('\n').filter(Boolean)) {
      const row = JSON.parse(line)
      out[row.engine] = { mbPerSecond: row.mbPerSecond[0], wireBytes: row.wireBytes, bytes: row.bytes }
    }
    return out
  }

  dispose () {
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

module.exports = { CodecBench }
