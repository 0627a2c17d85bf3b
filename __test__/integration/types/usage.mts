// Compiled with `tsc --noEmit` by types.spec.js beside usage.ts: an ES module
// that imports all three entry points by the package's name, as a consumer
// writes it. The package's files are CommonJS, so the default import is
// module.exports, with its namespace of types; ./parser's functions also come
// by name.
import Extensions from 'websocket-extensions-rs'
import deflate from 'websocket-extensions-rs/deflate'
import parser, { parseHeader, serializeParams } from 'websocket-extensions-rs/parser'

const exts: Extensions = new Extensions({ maxLength: 1 << 20 })
const tuned: deflate.DeflateExtension = deflate.configure({ level: 6, maxWindowBits: 15 })
exts.add(tuned)
const offer: string | null = exts.generateOffer()
const parsed: Extensions.Offer[] = parseHeader('permessage-deflate; client_max_window_bits')
const line: string = serializeParams('permessage-deflate', { server_no_context_takeover: true })
const same: typeof parseHeader = parser.parseHeader
const stats: deflate.DeflateStats = deflate.stats()
console.log(offer, parsed, line, same, stats.liveStateBytes)
