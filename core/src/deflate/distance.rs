//! The farthest a message reaches back, for windows smaller than DEFLATE's
//! 32 KiB.
//!
//! zlib-rs inflates with a 32 KiB window whatever size it is given, and zlib
//! itself checks a distance only against the history it holds plus what the
//! current call has written: neither refuses a peer that reaches farther
//! back than the window it promised. So after a message inflated cleanly,
//! [`check`] reads its DEFLATE blocks once more, decoding only the Huffman
//! codes, and fails at the first distance larger than the window. It writes
//! no output and does not look at what the distances point to (inflate has
//! done that), but decoding the codes is most of what inflating costs, so
//! the check is a real cost (callgrind counts in docs/ARCHITECTURE.md). It
//! runs only where it can matter: not for a 15-bit
//! window (no DEFLATE distance exceeds 32 KiB), and not while everything the
//! stream has inflated fits in the window (zlib refuses a match past that).
//!
//! The input has been accepted by zlib, so the reader is lenient: anything it
//! cannot parse is reported as an error rather than second-guessed.

/// Codes up to this many bits are decoded with one table lookup; longer ones
/// (rare: only large dynamic blocks use them) bit by bit.
const ROOT_BITS: u32 = 10;

// RFC 1951's tables. puff.rs writes them again on purpose: it is the tests'
// independent decoder, the oracle this check is tested against, so the two
// must not share a table (an error in it would then pass unseen).

const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which a dynamic block sends the code length code lengths.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
const MAX_SYMBOLS: usize = 320;

/// Why [`check`] refused a message.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// A match reaches this many bytes back, farther than the window.
    TooFar(usize),
    /// The blocks could not be read (zlib accepted them, so not expected).
    Unreadable(&'static str),
}

/// An LSB-first bit reader that pads the input with zero bits and counts
/// them, so that a read past the end is noticed afterwards instead of
/// checked on every bit.
struct Bits<'a> {
    /// The message, then the trailer appended to it.
    data: &'a [u8],
    tail: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
    padding: u32,
}

impl Bits<'_> {
    /// At least 56 bits in `buf`: enough for a length and distance pair.
    #[inline(always)]
    fn refill(&mut self) {
        if self.count > 56 {
            return;
        }
        // Eight bytes at once while they last, keeping the whole bytes that
        // fit (libdeflate's way); byte by byte near the end.
        let word = self
            .data
            .get(self.pos..self.pos + 8)
            .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok());
        if let Some(word) = word {
            self.buf |= u64::from_le_bytes(word) << self.count;
            let bytes = (63 - self.count) / 8;
            self.pos += bytes as usize;
            self.count += bytes * 8;
            return;
        }
        self.refill_slowly();
    }

    #[cold]
    fn refill_slowly(&mut self) {
        while self.count <= 56 {
            match self.byte(self.pos) {
                Some(byte) => {
                    self.buf |= u64::from(byte) << self.count;
                    self.pos += 1;
                }
                None => self.padding += 8,
            }
            self.count += 8;
        }
    }

    #[inline]
    fn byte(&self, index: usize) -> Option<u8> {
        match self.data.get(index) {
            Some(&byte) => Some(byte),
            None => self.tail.get(index - self.data.len()).copied(),
        }
    }

    fn len(&self) -> usize {
        self.data.len() + self.tail.len()
    }

    #[inline]
    fn take(&mut self, n: u32) -> u32 {
        let value = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.count -= n;
        value
    }

    /// Whether bits beyond the input were used.
    fn overran(&self) -> bool {
        self.padding > self.count
    }

    /// Whether only the padding of the last byte is left.
    fn at_end(&self) -> bool {
        self.pos == self.len() && self.count < self.padding + 8
    }

    /// Skips to the next byte boundary and returns the position of that byte
    /// in the input, emptying the buffer.
    fn align(&mut self) -> Option<usize> {
        let partial = self.count % 8;
        self.take(partial);
        if self.overran() {
            return None;
        }
        let unread = ((self.count - self.padding) / 8) as usize;
        self.buf = 0;
        self.count = 0;
        self.padding = 0;
        Some(self.pos - unread)
    }
}

/// A canonical Huffman code as a lookup table of its short codes, with what
/// the bit-by-bit decoder needs for the long ones.
struct Code {
    /// Indexed by the next `root` input bits: `symbol | length << 16`, or 0
    /// when the code is longer than `root` bits.
    table: [u32; 1 << ROOT_BITS],
    /// The table's index width: the longest code, at most `ROOT_BITS`, so
    /// that a short code (a small block's) fills a small table.
    root: u32,
    count: [u16; 16],
    /// Symbols in code order.
    symbols: [u16; MAX_SYMBOLS],
}

impl Code {
    fn new() -> Box<Code> {
        Box::new(Code {
            table: [0; 1 << ROOT_BITS],
            root: 1,
            count: [0; 16],
            symbols: [0; MAX_SYMBOLS],
        })
    }

    fn build(&mut self, lengths: &[u8]) {
        self.count = [0; 16];
        for &len in lengths {
            self.count[usize::from(len & 15)] += 1;
        }
        self.count[0] = 0;
        let longest = (1..16).rev().find(|&len| self.count[len] != 0).unwrap_or(1) as u32;
        self.root = longest.min(ROOT_BITS);
        let size = 1usize << self.root;
        // Entries no short code covers must read 0: a longer code, or none.
        let covered: usize = (1..=self.root as usize)
            .map(|len| usize::from(self.count[len]) << (self.root as usize - len))
            .sum();
        if covered != size {
            self.table[..size].fill(0);
        }
        let mut offsets = [0u16; 16];
        let mut next_code = [0u32; 16];
        let mut code = 0u32;
        for len in 1..16 {
            offsets[len] = if len == 1 {
                0
            } else {
                offsets[len - 1] + self.count[len - 1]
            };
            code = (code + u32::from(self.count[len - 1])) << 1;
            next_code[len] = code;
        }
        for (symbol, &len) in lengths.iter().enumerate() {
            let len = usize::from(len & 15);
            if len == 0 {
                continue;
            }
            if let Some(slot) = self.symbols.get_mut(usize::from(offsets[len])) {
                *slot = symbol as u16;
            }
            offsets[len] += 1;
            let code = next_code[len] & ((1 << len) - 1);
            next_code[len] += 1;
            if len as u32 <= self.root {
                let reversed = code.reverse_bits() >> (32 - len);
                let entry = symbol as u32 | (len as u32) << 16;
                let mut index = reversed as usize;
                while index < size {
                    self.table[index] = entry;
                    index += 1 << len;
                }
            }
        }
    }

    #[inline(always)]
    fn decode(&self, bits: &mut Bits) -> Result<usize, Refused> {
        let entry = self.table[(bits.buf & ((1 << self.root) - 1)) as usize];
        let len = entry >> 16;
        if len != 0 {
            bits.take(len);
            return Ok((entry & 0xffff) as usize);
        }
        self.decode_long(bits)
    }

    /// puff's canonical decoding, one bit at a time.
    #[cold]
    fn decode_long(&self, bits: &mut Bits) -> Result<usize, Refused> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16u32 {
            code |= ((bits.buf >> (len - 1)) & 1) as i32;
            let count = i32::from(self.count[len as usize]);
            if code - count < first {
                bits.take(len);
                return self
                    .symbols
                    .get((index + code - first) as usize)
                    .map(|&s| usize::from(s))
                    .ok_or(Refused::Unreadable("invalid code"));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(Refused::Unreadable("invalid code"))
    }
}

fn fixed_codes() -> &'static (Box<Code>, Box<Code>) {
    static FIXED: std::sync::OnceLock<(Box<Code>, Box<Code>)> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lengths = [0u8; 288];
        for (symbol, len) in lengths.iter_mut().enumerate() {
            *len = match symbol {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            };
        }
        let (mut literals, mut distances) = (Code::new(), Code::new());
        literals.build(&lengths);
        distances.build(&[5; 30]);
        (literals, distances)
    })
}

fn read_dynamic(bits: &mut Bits, literals: &mut Code, distances: &mut Code) -> Result<(), Refused> {
    bits.refill();
    let literal_count = bits.take(5) as usize + 257;
    let dist_count = bits.take(5) as usize + 1;
    let code_count = bits.take(4) as usize + 4;
    let mut code_lengths = [0u8; 19];
    for &i in &CODE_LENGTH_ORDER[..code_count] {
        bits.refill();
        code_lengths[i] = bits.take(3) as u8;
    }
    // The code length code borrows the distance table until it is built.
    distances.build(&code_lengths);
    let total = literal_count + dist_count;
    let mut lengths = [0u8; MAX_SYMBOLS];
    let mut filled = 0;
    while filled < total {
        bits.refill();
        let symbol = distances.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => {
                let previous = filled
                    .checked_sub(1)
                    .ok_or(Refused::Unreadable("repeat with no length"))?;
                (lengths[previous], 3 + bits.take(2) as usize)
            }
            17 => (0, 3 + bits.take(3) as usize),
            _ => (0, 11 + bits.take(7) as usize),
        };
        if filled + repeat > total {
            return Err(Refused::Unreadable("too many lengths"));
        }
        lengths[filled..filled + repeat].fill(value);
        filled += repeat;
    }
    if bits.overran() {
        return Err(Refused::Unreadable("ran out of input"));
    }
    literals.build(&lengths[..literal_count]);
    distances.build(&lengths[literal_count..total]);
    Ok(())
}

/// Reads one block's codes up to its end; fails at a distance over `window`.
fn codes(bits: &mut Bits, literals: &Code, distances: &Code, window: usize) -> Result<(), Refused> {
    loop {
        // 56 bits hold three codes of at most 15 bits: up to three literals
        // per refill, and a length code is followed by a refill.
        bits.refill();
        let mut symbol = literals.decode(bits)?;
        if symbol < 256 {
            symbol = literals.decode(bits)?;
            if symbol < 256 {
                symbol = literals.decode(bits)?;
            }
        }
        if bits.overran() {
            return Err(Refused::Unreadable("ran out of input"));
        }
        if symbol < 256 {
            continue;
        }
        if symbol == 256 {
            return Ok(());
        }
        bits.refill();
        let extra = *LENGTH_EXTRA
            .get(symbol - 257)
            .ok_or(Refused::Unreadable("invalid length code"))?;
        bits.take(u32::from(extra));
        let d = distances.decode(bits)?;
        let (&base, &extra) = DIST_BASE
            .get(d)
            .zip(DIST_EXTRA.get(d))
            .ok_or(Refused::Unreadable("invalid distance code"))?;
        let distance = usize::from(base) + bits.take(u32::from(extra)) as usize;
        if distance > window {
            return Err(Refused::TooFar(distance));
        }
    }
}

thread_local! {
    // The tables of dynamic blocks, made once per thread.
    static DYNAMIC: std::cell::RefCell<Option<(Box<Code>, Box<Code>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Checks that no match in `message` followed by `trailer` (the bytes as
/// they were inflated) reaches farther back than `window` bytes. Reading
/// stops after a final block or at the end of the input.
pub fn check(message: &[u8], trailer: &[u8], window: usize) -> Result<(), Refused> {
    // Without the thread's tables (in use, or the thread is ending), with
    // tables of its own.
    DYNAMIC
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut tables) => scan(message, trailer, window, &mut tables),
            Err(_) => scan(message, trailer, window, &mut None),
        })
        .unwrap_or_else(|_| scan(message, trailer, window, &mut None))
}

fn scan(
    message: &[u8],
    trailer: &[u8],
    window: usize,
    dynamic: &mut Option<(Box<Code>, Box<Code>)>,
) -> Result<(), Refused> {
    let mut bits = Bits {
        data: message,
        tail: trailer,
        pos: 0,
        buf: 0,
        count: 0,
        padding: 0,
    };
    loop {
        bits.refill();
        let last = bits.take(1) == 1;
        match bits.take(2) {
            0 => {
                let start = bits
                    .align()
                    .ok_or(Refused::Unreadable("ran out of input"))?;
                let (Some(low), Some(high), Some(_), Some(_)) = (
                    bits.byte(start),
                    bits.byte(start + 1),
                    bits.byte(start + 2),
                    bits.byte(start + 3),
                ) else {
                    return Err(Refused::Unreadable("ran out of input"));
                };
                bits.pos = start + 4 + usize::from(u16::from_le_bytes([low, high]));
                if bits.pos > bits.len() {
                    return Err(Refused::Unreadable("ran out of input"));
                }
            }
            1 => {
                let (literals, distances) = fixed_codes();
                codes(&mut bits, literals, distances, window)?;
            }
            2 => {
                let (literals, distances) =
                    dynamic.get_or_insert_with(|| (Code::new(), Code::new()));
                read_dynamic(&mut bits, literals, distances)?;
                codes(&mut bits, literals, distances, window)?;
            }
            _ => return Err(Refused::Unreadable("invalid block type")),
        }
        if last || bits.at_end() {
            return Ok(());
        }
    }
}
