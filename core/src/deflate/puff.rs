//! A small, slow DEFLATE decoder for tests, after zlib's `contrib/puff`.
//! It shares no code with zlib-rs and reports the farthest match distance a
//! message uses: zlib-rs's inflate keeps 32 KiB of history whatever window
//! it is given, so it cannot tell whether we kept to a smaller one. It is
//! also the oracle for the window check (distance.rs), so it shares no code
//! with that either: RFC 1951's tables are written in both on purpose.

const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which a dynamic block sends the code length code lengths.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    count: u32,
}

impl Bits<'_> {
    fn take(&mut self, need: u32) -> Result<u32, String> {
        while self.count < need {
            let byte = *self.data.get(self.pos).ok_or("ran out of input")?;
            self.pos += 1;
            self.buf |= u32::from(byte) << self.count;
            self.count += 8;
        }
        let value = self.buf & ((1u32 << need) - 1);
        self.buf >>= need;
        self.count -= need;
        Ok(value)
    }

    fn at_end(&self) -> bool {
        self.pos == self.data.len() && self.count == 0
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols
/// in code order.
struct Huffman {
    count: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0u16; 16];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        let mut offsets = [0usize; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + usize::from(count[len]);
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                symbols[offsets[usize::from(len)]] = symbol as u16;
                offsets[usize::from(len)] += 1;
            }
        }
        Huffman { count, symbols }
    }

    fn decode(&self, bits: &mut Bits) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("invalid Huffman code".into())
    }
}

fn fixed_codes() -> (Huffman, Huffman) {
    let mut lengths = [0u8; 288];
    for (symbol, len) in lengths.iter_mut().enumerate() {
        *len = match symbol {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    (Huffman::new(&lengths), Huffman::new(&[5; 30]))
}

fn dynamic_codes(bits: &mut Bits) -> Result<(Huffman, Huffman), String> {
    let literal_count = bits.take(5)? as usize + 257;
    let dist_count = bits.take(5)? as usize + 1;
    let code_count = bits.take(4)? as usize + 4;
    let mut code_lengths = [0u8; 19];
    for &i in &CODE_LENGTH_ORDER[..code_count] {
        code_lengths[i] = bits.take(3)? as u8;
    }
    let code_length_code = Huffman::new(&code_lengths);
    let mut lengths = Vec::with_capacity(literal_count + dist_count);
    while lengths.len() < literal_count + dist_count {
        let symbol = code_length_code.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => (
                *lengths.last().ok_or("repeat with no length")?,
                3 + bits.take(2)?,
            ),
            17 => (0, 3 + bits.take(3)?),
            _ => (0, 11 + bits.take(7)?),
        };
        lengths.extend(std::iter::repeat_n(value, repeat as usize));
    }
    if lengths.len() > literal_count + dist_count {
        return Err("too many lengths".into());
    }
    Ok((
        Huffman::new(&lengths[..literal_count]),
        Huffman::new(&lengths[literal_count..]),
    ))
}

/// Decodes one block's codes into `history`; returns the farthest distance.
fn codes(
    bits: &mut Bits,
    history: &mut Vec<u8>,
    literals: &Huffman,
    distances: &Huffman,
) -> Result<usize, String> {
    let mut farthest = 0;
    loop {
        let symbol = usize::from(literals.decode(bits)?);
        if symbol < 256 {
            history.push(symbol as u8);
            continue;
        }
        if symbol == 256 {
            return Ok(farthest);
        }
        let i = symbol - 257;
        let len = usize::from(*LENGTH_BASE.get(i).ok_or("bad length")?)
            + bits.take(LENGTH_EXTRA[i])? as usize;
        let d = usize::from(distances.decode(bits)?);
        let dist = usize::from(*DIST_BASE.get(d).ok_or("bad distance")?)
            + bits.take(DIST_EXTRA[d])? as usize;
        if dist > history.len() {
            return Err("distance too far back".into());
        }
        farthest = farthest.max(dist);
        for _ in 0..len {
            history.push(history[history.len() - dist]);
        }
    }
}

/// Decodes one permessage-deflate message (the trailer is appended here),
/// appending its bytes to `history`, which holds everything decoded before
/// in this context. Returns the farthest match distance used.
pub fn farthest_match(message: &[u8], history: &mut Vec<u8>) -> Result<usize, String> {
    let data = [message, &TRAILER].concat();
    let mut bits = Bits {
        data: &data,
        pos: 0,
        buf: 0,
        count: 0,
    };
    let mut farthest = 0;
    loop {
        let last = bits.take(1)? == 1;
        match bits.take(2)? {
            0 => {
                bits.buf = 0;
                bits.count = 0;
                let len = bits.take(16)?;
                if bits.take(16)? != !len & 0xffff {
                    return Err("bad stored lengths".into());
                }
                for _ in 0..len {
                    history.push(bits.take(8)? as u8);
                }
            }
            1 => {
                let (literals, distances) = fixed_codes();
                farthest = farthest.max(codes(&mut bits, history, &literals, &distances)?);
            }
            2 => {
                let (literals, distances) = dynamic_codes(&mut bits)?;
                farthest = farthest.max(codes(&mut bits, history, &literals, &distances)?);
            }
            _ => return Err("bad block type".into()),
        }
        if last || bits.at_end() {
            return Ok(farthest);
        }
    }
}
