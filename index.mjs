// ES module entry point: the CommonJS module itself, so that `import` and
// `require` share one class and one native addon.
import Extensions from './index.js'

export default Extensions
