// Type declarations for `import ... from 'websocket-extensions-rs'`: the
// CommonJS declarations, as the default export.
import Extensions from './index.js'

export default Extensions
