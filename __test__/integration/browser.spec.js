'use strict'
// A real browser as the peer: headless Chromium opens a WebSocket to a
// faye-websocket server that uses this package and its native
// permessage-deflate, sends text and binary messages of the interop sizes,
// and checks every echo byte for byte. The page reports back over HTTP.
//
// .ci/run installs Debian's chromium; locally the test is skipped when no
// Chromium is found (CHROMIUM=/path/to/chromium to choose one).

const assert = require('assert/strict')
const { spawn } = require('child_process')
const fs = require('fs')
const http = require('http')
const os = require('os')
const path = require('path')
const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')
const { random } = require('../support')
const { SIZES } = require('../support/messages')

const CHROMIUM = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']
  .find((file) => file && fs.existsSync(file))

// Runs in the browser. Deterministic content, so a failure is reproducible.
function page () {
  return `<!doctype html><meta charset="utf-8"><title>interop</title><script>
const sizes = ${JSON.stringify(SIZES)}
const r = (${random})(7)
function text (n, compressible) {
  const words = ['price', 'order', 'chat', 'hello', 'ümlaut', 'market', '{"id":', '},']
  let s = ''
  while (s.length < n) s += compressible ? r.pick(words) + ' ' : String.fromCharCode(32 + r.int(90))
  return s.slice(0, n)
}
function bytes (n, compressible) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = compressible ? (i % 251) & (r.int(4) === 0 ? 0x0f : 0xff) : r.int(256)
  return b
}
const sent = []
for (const n of sizes) for (const c of [true, false]) { sent.push(text(n, c)); sent.push(bytes(n, c)) }
const ws = new WebSocket(location.href.replace('http', 'ws'))
ws.binaryType = 'arraybuffer'
const report = (result) => fetch('/result', { method: 'POST', body: JSON.stringify(result) })
let received = 0
const problems = []
ws.onopen = () => { for (const m of sent) ws.send(m) }
ws.onmessage = (event) => {
  const want = sent[received++]
  if (typeof want === 'string') {
    if (event.data !== want) problems.push('text ' + received + ' differs')
  } else {
    const got = new Uint8Array(event.data)
    if (got.length !== want.length || got.some((v, i) => v !== want[i])) problems.push('binary ' + received + ' differs')
  }
  if (received === sent.length) {
    report({ extensions: ws.extensions, received, problems })
    ws.close(1000)
  }
}
ws.onerror = () => report({ error: 'websocket error', received, problems })
</script>`
}

describe('interop with a browser (headless Chromium)', function () {
  this.timeout(120000)
  let server, browser, profile

  before(function () {
    if (!CHROMIUM) {
      if (process.env.CI) throw new Error('Chromium is not installed; .ci/run installs Debian\'s chromium')
      this.skip()
    }
  })

  afterEach(async function () {
    if (browser && browser.exitCode === null) {
      const gone = new Promise((resolve) => browser.once('exit', resolve))
      // Chromium runs as a process group (renderers, GPU, utility): end all.
      try { process.kill(-browser.pid, 'SIGKILL') } catch (_) { browser.kill('SIGKILL') }
      await gone
    }
    if (server) server.close()
    if (profile) fs.rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })
    browser = server = profile = null
  })

  it('Chromium negotiates permessage-deflate with our server and gets every message back byte for byte', async function () {
    const headers = []
    const result = new Promise((resolve, reject) => {
      server = http.createServer((req, res) => {
        if (req.method === 'POST' && req.url === '/result') {
          let body = ''
          req.on('data', (chunk) => { body += chunk })
          req.on('end', () => { res.end('ok'); resolve(JSON.parse(body)) })
          return
        }
        res.setHeader('content-type', 'text/html; charset=utf-8')
        res.end(page())
      })
      server.on('upgrade', (req, socket, body) => {
        headers.push(req.headers['sec-websocket-extensions'])
        const ws = new WebSocket(req, socket, body, [], { extensions: [deflate], maxLength: 1 << 24 })
        ws.on('message', (event) => ws.send(event.data))
        ws.on('error', reject)
      })
    })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${server.address().port}/`
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsx-chromium-'))
    browser = spawn(CHROMIUM, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--user-data-dir=' + profile, url
    ], { stdio: 'ignore', detached: true })
    const exited = new Promise((resolve, reject) => browser.on('exit', (code) => reject(new Error('Chromium exited early with ' + code))))
    const report = await Promise.race([result, exited])

    assert.equal(report.error, undefined, JSON.stringify(report))
    assert.match(headers[0], /permessage-deflate/, 'Chromium offered permessage-deflate')
    assert.match(report.extensions, /^permessage-deflate/, 'the browser sees permessage-deflate negotiated')
    assert.equal(report.received, 28)
    assert.deepEqual(report.problems, [])
  })
})
