// ES module entry point for the header parser: the CommonJS module's
// functions, by name and as the default export.
import parser from './parser.js'

export const { parseHeader, serializeParams } = parser
export default parser
