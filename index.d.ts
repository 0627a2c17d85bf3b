// Type declarations for websocket-extensions-rs, a drop-in replacement for
// the npm package `websocket-extensions` 0.2.0.

declare namespace Extensions {
  /** A parameter value as the header grammar gives it: a bare key is `true`. */
  type ParamValue = true | number | string

  /** The parameters of one offer or response; a repeated key gives an array. */
  interface Params {
    [key: string]: ParamValue | ParamValue[]
  }

  /** Parameters a session hands back for serialization. */
  interface OutgoingParams {
    [key: string]: unknown
  }

  /** One element of a parsed `Sec-WebSocket-Extensions` header. */
  interface Offer {
    name: string
    params: Params
  }

  /**
   * What drivers pass through the pipeline. websocket-driver passes its own
   * Message objects; the container hands on whatever it is given.
   */
  interface Message {
    rsv1?: boolean
    rsv2?: boolean
    rsv3?: boolean
    opcode?: number
    data?: Buffer
    [key: string]: unknown
  }

  /** A received frame, as validFrameRsv reads it (fields may be inherited). */
  interface Frame {
    opcode: number
    rsv1?: boolean
    rsv2?: boolean
    rsv3?: boolean
  }

  type MessageCallback<M = Message> = (error: Error | null, message: M | null) => void

  /** A negotiated extension on one connection. */
  interface Session<M = Message> {
    processIncomingMessage (message: M, callback: MessageCallback<M>): void
    processOutgoingMessage (message: M, callback: MessageCallback<M>): void
    close? (): void
  }

  interface ClientSession<M = Message> extends Session<M> {
    /** Params to offer: one object, several, or a falsy value for no offer. */
    generateOffer (): OutgoingParams | OutgoingParams[] | null | undefined | false
    /** Whether the server's response is acceptable: must return exactly `true`. */
    activate (params: Params): boolean
  }

  interface ServerSession<M = Message> extends Session<M> {
    generateResponse (): OutgoingParams
  }

  interface ContainerOptions {
    /** Passed on to the session factories; permessage-deflate bounds inflation by it. */
    maxLength?: number
  }

  /** An extension object, as `add` takes it. */
  interface Extension<M = Message> {
    name: string
    type: 'permessage'
    rsv1: boolean
    rsv2: boolean
    rsv3: boolean
    createClientSession (options: ContainerOptions): ClientSession<M> | null | undefined | false
    createServerSession (offers: Params[], options: ContainerOptions): ServerSession<M> | null | undefined | false
  }
}

declare class Extensions {
  /** `[1, 2]`: the opcodes whose frames may carry an extension's RSV bits. */
  static readonly MESSAGE_OPCODES: number[]

  /**
   * Returns `options` (or `{}`), throwing `Error('Unrecognized option: ' + key)`
   * for the first own key not in `validKeys`.
   */
  static validateOptions<T extends object> (options: T | null | undefined, validKeys: string[]): T

  constructor (options?: Extensions.ContainerOptions)

  add<M = Extensions.Message> (ext: Extensions.Extension<M>): void
  /** The client's `Sec-WebSocket-Extensions` offer, or null when there is none. */
  generateOffer (): string | null
  /** Applies the server's response; throws when it is not acceptable. */
  activate (header: string | null | undefined): void
  /** The server's response to a client's offer, or null when nothing was accepted. */
  generateResponse (header: string | null | undefined): string | null
  validFrameRsv (frame: Extensions.Frame): boolean
  processIncomingMessage<M, C = unknown> (message: M, callback: (this: C, error: Error | null, message: M | null) => void, context?: C): void
  processOutgoingMessage<M, C = unknown> (message: M, callback: (this: C, error: Error | null, message: M | null) => void, context?: C): void
  close<C = unknown> (callback?: (this: C) => void, context?: C): void
}

export = Extensions
