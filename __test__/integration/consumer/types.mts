// Type-checked by pack.spec.js in the fresh project, as an ES module.
import Extensions from 'websocket-extensions-rs';
import deflate from 'websocket-extensions-rs/deflate';
import { parseHeader } from 'websocket-extensions-rs/parser';

const exts: Extensions = new Extensions({ maxLength: 1 << 20 });
const tuned: deflate.DeflateExtension = deflate.configure({ level: 9, maxWindowBits: 12 });
exts.add(tuned);
const offers: Extensions.Offer[] = parseHeader(exts.generateOffer());
console.log(offers);
