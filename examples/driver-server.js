// An echo server on websocket-driver, the protocol layer under
// faye-websocket, with the native permessage-deflate added to each driver.
//
// Run it from the repository (after `npm install`):
//
//   node examples/driver-server.js          # listens on 127.0.0.1:8080
//   PORT=0 node examples/driver-server.js   # any free port
//
// It prints its URL; connect with `node examples/driver-client.js <url>` (or
// examples/client.js). Ctrl-C stops it. In your own project, install
// websocket-driver, route its `websocket-extensions` to websocket-extensions-rs
// with npm `overrides` (see the README) and copy this file.
'use strict'

const http = require('http')
const websocket = require('websocket-driver')
const deflate = require('websocket-extensions-rs/deflate')

// configure() returns a new extension with these options (the names of the
// npm package permessage-deflate; see deflate.d.ts); `deflate` itself is
// left as it was.
const tuned = deflate.configure({ level: 6, maxWindowBits: 15 })

const server = http.createServer((request, response) => {
  response.end('This is a WebSocket echo server.\n')
})

server.on('upgrade', (request, socket, body) => {
  if (!websocket.isWebSocket(request)) return socket.destroy()

  const driver = websocket.http(request, { maxLength: 16 * 1024 * 1024 })
  driver.addExtension(tuned)

  driver.io.write(body)
  socket.pipe(driver.io).pipe(socket)
  socket.on('error', () => socket.destroy())

  // Text arrives as strings and binary as Buffers; echo each as it came.
  driver.on('message', (event) => {
    if (typeof event.data === 'string') driver.text(event.data)
    else driver.binary(event.data)
  })
  driver.on('close', (event) => {
    console.log(`connection closed: ${event.code} ${event.reason}`)
    socket.end()
  })

  driver.start()
})

const port = process.env.PORT === undefined ? 8080 : Number(process.env.PORT)
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/`)
})
