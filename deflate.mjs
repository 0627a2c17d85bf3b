// ES module entry point for the native permessage-deflate extension: the
// CommonJS module itself, so that `import` and `require` share one object.
import deflate from './deflate.js'

export default deflate
