// Compiled with `tsc --noEmit` by types.spec.js in a project that has the
// package in node_modules, under each module resolution: the declarations
// must describe a realistic use of the package, reached by its name as a
// CommonJS consumer writes it.
import Extensions = require('websocket-extensions-rs')
import { parseHeader, serializeParams } from 'websocket-extensions-rs/parser'
import deflate = require('websocket-extensions-rs/deflate')

interface Tagged extends Extensions.Message { tags: string[] }

const tagger: Extensions.Extension<Tagged> = {
  name: 'tagger',
  type: 'permessage',
  rsv1: false,
  rsv2: true,
  rsv3: false,
  createClientSession () {
    return {
      generateOffer: () => ({ mode: 'fast', level: 3 }),
      activate: (params: Extensions.Params) => params.mode === 'fast',
      processOutgoingMessage (m: Tagged, cb: Extensions.MessageCallback<Tagged>) { m.tags.push('out'); cb(null, m) },
      processIncomingMessage (m: Tagged, cb: Extensions.MessageCallback<Tagged>) { cb(null, m) },
      close () {}
    }
  },
  createServerSession (offers: Extensions.Params[], options: Extensions.ContainerOptions) {
    if (offers.length === 0 || options.maxLength === 0) return null
    return {
      generateResponse: () => ({ mode: 'fast' }),
      processOutgoingMessage (m: Tagged, cb: Extensions.MessageCallback<Tagged>) { cb(null, m) },
      processIncomingMessage (m: Tagged, cb: Extensions.MessageCallback<Tagged>) { cb(null, m) }
    }
  }
}

const exts = new Extensions({ maxLength: 1 << 20 })
exts.add(tagger)
const offer: string | null = exts.generateOffer()
exts.activate('tagger; mode=fast')
const ok: boolean = exts.validFrameRsv({ opcode: 1, rsv2: true })
const msg: Tagged = { tags: [], data: Buffer.from('hi') }
exts.processOutgoingMessage(msg, function (this: { n: number }, error, m) {
  if (error) throw error
  this.n += m ? m.tags.length : 0
}, { n: 0 })
exts.close(function (this: string) { console.log(this.length) }, 'done')
const opts: { maxLength: number } = Extensions.validateOptions({ maxLength: 1 }, ['maxLength'])
const codes: number[] = Extensions.MESSAGE_OPCODES
const parsed: Extensions.Offer[] = parseHeader('a; b=1')
const line: string = serializeParams('a', { b: 1, c: true })

const deflateOptions: deflate.DeflateOptions = { level: 9, memLevel: 8, strategy: 0, maxWindowBits: 12 }
const tuned: deflate.DeflateExtension = deflate.configure(deflateOptions).configure({ requestMaxWindowBits: 10 })
const native = new Extensions({ maxLength: 1 << 20 })
native.add(tuned)
native.add(deflate.configure({ noContextTakeover: true, requestNoContextTakeover: true }))
const deflateName: 'permessage-deflate' = deflate.name
const session: deflate.DeflateSession | null = deflate.createServerSession([{ client_max_window_bits: true }], { maxLength: 1024 })
// @ts-expect-error: an unknown option is a type error (and throws at run time)
deflate.configure({ windowBits: 15 })
const stats: deflate.DeflateStats = deflate.stats()
const held: number = stats.liveStateBytes + stats.historyBytes + stats.workerStartFailures
// @ts-expect-error: stats() has no such field
console.log(stats.liveSessions)

console.log(offer, ok, opts, codes, parsed, line, deflateName, session, held)
