'use strict'

// For the ava suite (ava-*.test.js), which prebuilt.spec.js runs in the consumer project:
// ava runs each test file in a worker thread of its own, so each file loads the installed
// package (and its native addon) in another thread, at the same time. `echo` starts a
// faye-websocket server on 127.0.0.1 with the native permessage-deflate, connects a
// client with it, sends the messages, and resolves with the echoes and the negotiated
// header once all have come back; the server is closed before it resolves.

const http = require('http')
const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

const echo = async (messages) => {
  const server = http.createServer()
  server.on('upgrade', (req, socket, body) => {
    const ws = new WebSocket(req, socket, body, [], { extensions: [deflate] })
    ws.on('message', (event) => ws.send(event.data))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const client = new WebSocket.Client(`ws://127.0.0.1:${server.address().port}/`, [], { extensions: [deflate] })
    const echoes = []
    await new Promise((resolve, reject) => {
      client.on('open', () => {
        for (const m of messages) client.send(m)
      })
      client.on('message', (event) => {
        echoes.push(event.data)
        if (echoes.length === messages.length) resolve()
      })
      client.on('close', (event) => reject(new Error(`closed after ${echoes.length} echoes: ${event.code} ${event.reason}`)))
    })
    const header = client.headers['sec-websocket-extensions']
    await new Promise((resolve) => {
      client.removeAllListeners('close')
      client.on('close', resolve)
      client.close()
    })
    return { echoes, header }
  } finally {
    server.close()
  }
}

const bytesOf = (m) => (typeof m === 'string' ? Buffer.from(m) : m)

module.exports = { echo, bytesOf }
