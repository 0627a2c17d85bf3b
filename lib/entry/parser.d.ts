// Type declarations for websocket-extensions-rs/parser (require and import).
import Extensions = require('../../index')

/** Parses a `Sec-WebSocket-Extensions` header; null, undefined and '' give []. */
export function parseHeader (header: string | null | undefined): Extensions.Offer[]
/** Formats one offer or response: `name; key=value; ...`. */
export function serializeParams (name: string, params: Extensions.OutgoingParams): string
