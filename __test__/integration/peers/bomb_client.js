'use strict'

// A ws client, in a process of its own so that its 32 MiB stay out of the measured RSS,
// that sends one binary message of `size` zeros (a few KiB once compressed) to `url` and
// prints the close code it gets as JSON: { "code": N }.
//
//   node bomb_client.js URL SIZE

const WebSocket = require('ws')

const [url, size] = process.argv.slice(2)

const socket = new WebSocket(url, {
  perMessageDeflate: { threshold: 0 },
  maxPayload: 1 << 30
})

socket.on('open', () => socket.send(Buffer.alloc(Number(size)), { binary: true }))
socket.on('close', (code) => {
  process.stdout.write(JSON.stringify({ code }) + '\n')
  process.exit(0)
})
socket.on('error', (error) => {
  process.stderr.write(`bomb client: ${error.message}\n`)
})
