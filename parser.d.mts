// Type declarations for `import ... from 'websocket-extensions-rs/parser'`.
import parser from './parser.js'

export { parseHeader, serializeParams } from './parser.js'
export default parser
