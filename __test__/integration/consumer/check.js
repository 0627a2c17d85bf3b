'use strict'

// Run by pack.spec.js and prebuilt.spec.js (and under other runtimes by
// runtimes.spec.js) inside a fresh project that installed the packed tarball beside
// faye-websocket 0.11.4 and websocket-driver 0.8.0 from npm, with `websocket-extensions`
// overridden to the tarball. Checks that the drivers load this package and that a
// faye-websocket server and client echo byte for byte over the native permessage-deflate.
// Prints one line of JSON for the spec to check; exits non-zero on any failure.

const assert = require('assert/strict')
const crypto = require('crypto')
const fs = require('fs')
const http = require('http')
const path = require('path')

const packageOf = (file) => {
  let dir = path.dirname(file)
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  return { dir, ...JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) }
}

// Who loads what: faye-websocket requires websocket-driver, which requires
// websocket-extensions.
const fayeDir = path.dirname(require.resolve('faye-websocket/package.json'))
const driverFile = require.resolve('websocket-driver', { paths: [fayeDir] })
const fromFaye = require.resolve('websocket-extensions', { paths: [fayeDir] })
const fromDriver = require.resolve('websocket-extensions', { paths: [path.dirname(driverFile)] })
const container = packageOf(fromDriver)
const direct = packageOf(require.resolve('websocket-extensions-rs'))

assert.equal(fromFaye, fromDriver)
assert.equal(container.name, 'websocket-extensions-rs')
assert.equal(container.version, direct.version)
assert.equal(packageOf(driverFile).version, '0.8.0')
assert.equal(require('faye-websocket/package.json').version, '0.11.4')

const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

// Text and binary, small and large (64 KiB and more go to a worker thread), compressible
// and not.
const record = (i) => JSON.stringify({ type: 'trade', seq: i, symbol: 'BTC-USD', price: 64000 + i, side: i % 2 ? 'buy' : 'sell' })
const messages = [
  'hello',
  '',
  record(1),
  Array.from({ length: 3000 }, (_, i) => record(i)).join('\n'),
  crypto.randomBytes(100),
  crypto.randomBytes(200 * 1024),
  Buffer.from('ünïcödé '.repeat(20000)),
  record(2)
]
const bytesOf = (m) => (typeof m === 'string' ? Buffer.from(m) : m)
const payload = messages.reduce((n, m) => n + bytesOf(m).length, 0)

const main = async () => {
  let serverSocket = null
  const server = http.createServer()
  server.on('upgrade', (req, socket, body) => {
    serverSocket = socket
    const ws = new WebSocket(req, socket, body, [], { extensions: [deflate] })
    ws.on('message', (event) => ws.send(event.data))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))

  const client = new WebSocket.Client(`ws://127.0.0.1:${server.address().port}/`, [], { extensions: [deflate] })
  const echoes = []
  const header = await new Promise((resolve, reject) => {
    client.on('open', () => {
      for (const m of messages) client.send(m)
      resolve(client.headers['sec-websocket-extensions'])
    })
    client.on('close', (event) => reject(new Error(`closed: ${event.code} ${event.reason}`)))
  })
  await new Promise((resolve, reject) => {
    client.on('message', (event) => {
      echoes.push(event.data)
      if (echoes.length === messages.length) resolve()
    })
    client.on('close', (event) => reject(new Error(`closed after ${echoes.length} echoes: ${event.code} ${event.reason}`)))
  })

  assert.match(header, /^permessage-deflate(;|$)/)
  messages.forEach((sent, i) => {
    assert.equal(typeof echoes[i], typeof sent, `echo ${i} has the wrong type`)
    assert.ok(bytesOf(echoes[i]).equals(bytesOf(sent)), `echo ${i} differs from what was sent`)
  })
  const wire = serverSocket.bytesRead

  await new Promise((resolve) => {
    client.on('close', resolve)
    client.close()
  })
  server.close()

  console.log(JSON.stringify({
    container: path.relative(process.cwd(), fromDriver),
    direct: path.relative(process.cwd(), require.resolve('websocket-extensions-rs')),
    // The native addons this process loaded: built from source beside lib/binding.js, or
    // from a prebuilt platform package.
    addons: Object.keys(require.cache).filter((file) => file.endsWith('.node')).map((file) => path.relative(process.cwd(), file)),
    header,
    echoed: echoes.length,
    payload,
    clientToServerWire: wire
  }))
}

main().catch((error) => {
  console.error(error.stack)
  process.exit(1)
})
