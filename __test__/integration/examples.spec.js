'use strict'

// `npm run demo` (scripts/demo.js) and the programs in examples/ run as the README says.

const assert = require('assert/strict')
const { spawn, spawnSync } = require('child_process')
const path = require('path')

const root = path.resolve(__dirname, '..', '..')

const node = (args, options = {}) =>
  spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 30000, ...options })

const output = (result) => `exit ${result.status}\n${result.stdout}${result.stderr}`

// Starts an example server on a free port and resolves with it and the URL it printed.
const startServer = (file) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, PORT: '0' } })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const url = /ws:\/\/\S+/.exec(out)
      if (url) resolve({ child, url: url[0] })
    })
    child.stderr.on('data', (chunk) => (out += chunk))
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}: ${out}`)))
  })

describe('demo and examples', function () {
  this.timeout(60000)

  it('npm run demo echoes every message over permessage-deflate and exits with 0 by itself', function () {
    const result = node(['scripts/demo.js'])
    assert.equal(result.status, 0, output(result))
    assert.match(result.stdout, /server answered: {2}Sec-WebSocket-Extensions: permessage-deflate/)
    assert.match(result.stdout, /echoed: ([\d,]+) of \1, in order/)
    assert.match(result.stdout, /messages\/s/)
    assert.match(result.stdout, /on the wire: /)
  })

  for (const server of ['server.js', 'driver-server.js']) {
    for (const client of ['client.js', 'driver-client.js']) {
      it(`examples/${client} against examples/${server}`, async function () {
        const { child, url } = await startServer(path.join('examples', server))
        try {
          const result = node([path.join('examples', client), url])
          assert.equal(result.status, 0, output(result))
          assert.match(result.stdout, /Sec-WebSocket-Extensions: permessage-deflate/)
          assert.doesNotMatch(result.stdout, /DIFFERS/)
          assert.match(result.stdout, /closed: 1000/)
        } finally {
          child.kill()
        }
      })
    }
  }
})
