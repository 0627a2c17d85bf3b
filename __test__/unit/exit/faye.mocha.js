'use strict'
// Issue 16: run by __test__/exit.spec.js as `mocha --exit` over this file
// alone (not part of the project's suites). A faye-websocket server on
// 127.0.0.1 and faye-websocket clients, both with this package's deflate,
// exchange messages and leave their connections open, and one client is
// left connected without a message (the server's handshake holds its
// session): mocha's --exit then calls process.exit with the deflate sessions
// open, and must exit with 0.

const assert = require('assert/strict')
const http = require('http')
const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')
const { small, large } = require('./pairs')

const CLIENTS = 3
const MESSAGES = 5

function listen () {
  const server = http.createServer((req, res) => res.end())
  server.on('upgrade', (req, socket, body) => {
    const ws = new WebSocket(req, socket, body, [], { extensions: [deflate] })
    ws.on('message', (event) => ws.send(event.data))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

function connect (url) {
  const ws = new WebSocket.Client(url, [], { extensions: [deflate] })
  const received = []
  ws.on('message', (event) => received.push(event.data))
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, received }))
    ws.on('error', (event) => reject(new Error(event.message)))
  })
}

async function until (check) {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('faye-websocket with the native deflate, connections left open at mocha --exit', function () {
  let url

  before(async () => {
    const server = await listen()
    url = `ws://127.0.0.1:${server.address().port}/`
  })

  it(`${CLIENTS} clients echo ${MESSAGES} messages each (one of 256 KiB), deflated`, async () => {
    for (let i = 0; i < CLIENTS; i++) {
      const { ws, received } = await connect(url)
      assert.match(ws.headers['sec-websocket-extensions'] || '', /^permessage-deflate/)
      const sent = []
      for (let m = 0; m < MESSAGES; m++) {
        const data = m === 2 ? large(i, 256 * 1024) : small(i * 100 + m)
        sent.push(data)
        ws.send(data)
      }
      await until(() => received.length === MESSAGES)
      assert.deepEqual(received.map((data) => Buffer.from(data)), sent)
    }
  })

  it('a client connected without sending a message', async () => {
    const { ws } = await connect(url)
    assert.match(ws.headers['sec-websocket-extensions'] || '', /^permessage-deflate/)
  })
})
