// An echo server on faye-websocket with the native permessage-deflate.
//
// Run it from the repository (after `npm install`):
//
//   node examples/server.js          # listens on 127.0.0.1:8080
//   PORT=0 node examples/server.js   # any free port
//
// It prints its URL; connect with `node examples/client.js <url>`. Ctrl-C
// stops it. In your own project, install faye-websocket, route its
// `websocket-extensions` to websocket-extensions-rs with npm `overrides`
// (see the README) and copy this file.
'use strict'

const http = require('http')
const WebSocket = require('faye-websocket')
const deflate = require('websocket-extensions-rs/deflate')

const server = http.createServer((request, response) => {
  response.end('This is a WebSocket echo server.\n')
})

server.on('upgrade', (request, socket, body) => {
  if (!WebSocket.isWebSocket(request)) return socket.destroy()

  // maxLength bounds every message, after decompression too: a bigger one
  // closes the connection with 1009 instead of filling memory.
  const ws = new WebSocket(request, socket, body, [], {
    extensions: [deflate],
    maxLength: 16 * 1024 * 1024
  })

  ws.on('message', (event) => ws.send(event.data))
  ws.on('close', (event) => console.log(`connection closed: ${event.code} ${event.reason}`))
})

const port = process.env.PORT === undefined ? 8080 : Number(process.env.PORT)
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/`)
})
