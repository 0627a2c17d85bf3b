// Type declarations for websocket-extensions-rs/deflate, for require and
// import alike: the native permessage-deflate extension (RFC 7692), with the
// options of the npm package permessage-deflate 0.1.7.
import Extensions = require('../../index')

declare namespace deflate {
  /**
   * Options of `configure`. Every one is optional; unknown keys throw
   * `Error('Unrecognized option: ' + key)` and out-of-range values throw at
   * `configure` time, with the option's name in the message.
   */
  interface DeflateOptions {
    /** Compression level: 0 (store) to 9 (smallest), or -1 for zlib's default (6). Default -1. */
    level?: number
    /** Memory for the compressor's internal state, 1 to 9. Default 8. */
    memLevel?: number
    /**
     * A zlib strategy, numbered as `zlib.constants` numbers them: 0 `Z_DEFAULT_STRATEGY`
     * (the default), 1 `Z_FILTERED`, 2 `Z_HUFFMAN_ONLY`, 3 `Z_RLE`, 4 `Z_FIXED`.
     */
    strategy?: number
    /** Reset our compressor after every message (and tell the peer so). Default false. */
    noContextTakeover?: boolean
    /** The largest LZ77 window we compress with, as bits: 8 to 15. Default 15. */
    maxWindowBits?: number
    /** Ask the peer to reset its compressor after every message. Default false. */
    requestNoContextTakeover?: boolean
    /** The largest window we ask the peer to compress with, as bits: 8 to 15. Default: no request. */
    requestMaxWindowBits?: number
    /** Accepted for compatibility with permessage-deflate and ignored: compression runs natively. */
    zlib?: unknown
    /**
     * Messages shorter than this many bytes are sent uncompressed, with RSV1
     * clear (RFC 7692 allows it per message). An integer from 0 to 2^32 - 1;
     * default 0: every message is compressed, as permessage-deflate 0.1.7 does.
     */
    threshold?: number
    /**
     * How many sessions of a thread keep their zlib states between messages.
     * Beyond it sessions rest: they give their states back and keep only
     * their history (the last window of what they received, and up to
     * `restHistory` bytes of what they sent), and their next message primes a
     * state from it. The peer sees no difference. When the budget is full, a
     * session that woke for a message rests again after it, unless it was
     * used more recently than the least recently used live session, which
     * then rests instead. A session used again only after more than this
     * many uses of other sessions rests after that message (and after one
     * that follows at once, such as an echo's reply), live or not: its
     * state has gone cold, and a cold state costs more than a woken one.
     * The budget of the session that just worked applies. An integer from 0
     * to 2^32 - 1; default 64.
     */
    liveStates?: number
    /**
     * Milliseconds after its last message at which a session rests whatever
     * `liveStates` says, so that a quiet server holds only histories. An
     * unref'd timer per thread (it never keeps a process or worker alive)
     * checks, while a session with a `restAfter` holds states; a session
     * rests between `restAfter` and an eighth more after its last message. A
     * session that sends or receives more often never rests for it; one with
     * a message on a worker thread rests later. An integer from 0 to
     * 2^32 - 1; 0: never (no timer). Default 30000.
     */
    restAfter?: number
    /**
     * How many bytes of what it sent a resting session's compressor keeps,
     * to prime its next state with when it wakes (at most its window): all
     * of it for a message of a sixteenth of it or more, at least half of it
     * for a smaller message. Priming hashes every byte, so less makes waking
     * cheaper and compresses messages across a rest a little worse; the
     * peer sees an ordinary stream either way. An integer from 0 to 32768;
     * default 8192.
     */
    restHistory?: number
  }

  /**
   * This thread's figures, from `stats()`: the binding's type, generated
   * from the Rust struct that fills it (src/deflate_binding.rs), where each
   * field is documented. Bytes of state follow zlib's documented formulas.
   */
  type DeflateStats = import('../binding').DeflateStats

  /**
   * One connection's permessage-deflate session. Containers call these
   * methods; this package's own container runs the codec without them.
   */
  interface DeflateSession extends Extensions.ClientSession, Extensions.ServerSession {
    close (): void
  }

  /** The extension object, as `Extensions#add`, faye-websocket's `extensions` option and `driver.addExtension` take it. */
  interface DeflateExtension extends Extensions.Extension {
    readonly name: 'permessage-deflate'
    readonly type: 'permessage'
    readonly rsv1: true
    readonly rsv2: false
    readonly rsv3: false
    /** A new extension with `options` on top of this one's; this one is left as it was. */
    configure (options: DeflateOptions): DeflateExtension
    /** `options.maxLength` bounds the size of each decompressed message. */
    createClientSession (options?: Extensions.ContainerOptions): DeflateSession
    /** A session for the first acceptable offer, or null when none is acceptable. */
    createServerSession (offers: Extensions.Params[], options?: Extensions.ContainerOptions): DeflateSession | null
    /** This thread's figures (the same from every configured extension). */
    stats (): DeflateStats
  }
}

/** The permessage-deflate extension with its default options. */
declare const deflate: deflate.DeflateExtension

export = deflate
