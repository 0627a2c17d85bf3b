// Type declarations for `import ... from 'websocket-extensions-rs/deflate'`:
// the CommonJS declarations, as the default export.
import deflate from './deflate.js'

export default deflate
