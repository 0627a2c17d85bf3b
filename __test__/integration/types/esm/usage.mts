// Compiled with `tsc --noEmit` by types.spec.js as an ES module under
// `moduleResolution: nodenext`: the package's `exports` map must give
// `import` users the types of all three entry points. The package imports
// itself by name, as a consumer would.
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
console.log(offer, parsed, line, same)
