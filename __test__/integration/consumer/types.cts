// Type-checked by pack.spec.js in the fresh project, as a CommonJS module.
import Extensions = require('websocket-extensions-rs');
import deflate = require('websocket-extensions-rs/deflate');
import { serializeParams } from 'websocket-extensions-rs/parser';

const options: deflate.DeflateOptions = { noContextTakeover: true, requestMaxWindowBits: 10 };
const exts = new Extensions();
exts.add(deflate.configure(options));
const line: string = serializeParams('permessage-deflate', { client_max_window_bits: 10 });
console.log(exts, line);
