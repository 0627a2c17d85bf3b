//! The one encoding of values that cross between the binding and
//! JavaScript: every number with a meaning on both sides is defined here,
//! exported by the binding under the same name, and read once by
//! lib/ (lib/pipeline/, lib/errors.js, lib/deflate.js). Nothing else is
//! written as a literal on either side.
//!
//! - Failure codes: a function that can fail in a way the contract words
//!   returns a negative code (or an RSV conflict, packed) in place of its
//!   result; lib/errors.js words each.
//! - Directions: `DIR_OUTGOING`, `DIR_INCOMING` ([`Direction`]'s numbers).
//! - Actions: one packed number per action ([`pack`]).
//! - Codec results: `CODEC_*`, a message's data or one of these.

use crate::pipeline::{Action, Direction};

/// Failure: the header does not match the grammar (SyntaxError).
pub const ERROR_INVALID_HEADER: i32 = -1;
/// Failure: an extension with this name is registered already (TypeError).
pub const ERROR_NAME_TAKEN: i32 = -2;
/// An RSV conflict crosses as `bit | holder << RSV_CONFLICT_HOLDER_SHIFT`
/// (bit 1 to 3, the holder's registration index); 0 is no conflict.
pub const RSV_CONFLICT_HOLDER_SHIFT: u32 = 2;
/// A one-call deflate negotiation that accepted nothing: the messages pass
/// through (not a failure).
pub const NEGOTIATED_NOTHING: i32 = 0;

/// The outgoing direction's number ([`Direction::Outgoing`]).
pub const DIR_OUTGOING: u32 = Direction::Outgoing as u32;
/// The incoming direction's number ([`Direction::Incoming`]).
pub const DIR_INCOMING: u32 = Direction::Incoming as u32;

// Actions cross packed in one double, so that taking one costs a single
// call with no object made: bits 0-2 kind, bit 3 direction, bit 4 "more
// actions are queued", bits 5-20 cell, bits 21-22 the pipeline's status,
// and the slot (or close ticket) from bit 23 up (below 2^30).
//
// The status says, per direction, whether a message may run ahead: the
// direction is open and no message of it is in the pipeline. JavaScript
// passes such a message from session to session itself, with no native
// call, and hands it to the core (adopt) the moment that stops being
// simple. It keeps no state of its own for that: every answer of the core
// carries the status as it is once that answer's actions are carried out,
// in the last action (`more` clear), or in place of an action (see
// [`none`]).

/// Action kind: call a session's process method.
pub const ACTION_CALL: u32 = 1;
/// Action kind: prefix a failed message's error with the session's name.
pub const ACTION_PREFIX: u32 = 2;
/// Action kind: hand a message to the caller's callback.
pub const ACTION_DELIVER: u32 = 3;
/// Action kind: hand an error to the caller's callback.
pub const ACTION_DELIVER_ERROR: u32 = 4;
/// Action kind: forget a message (its direction stopped).
pub const ACTION_DROP: u32 = 5;
/// Action kind: close a session.
pub const ACTION_CLOSE_SESSION: u32 = 6;
/// Action kind: call a close callback.
pub const ACTION_CLOSED: u32 = 7;
/// Mask of the kind bits.
pub const ACTION_KIND_MASK: u32 = 7;
/// Shift of the direction bit.
pub const ACTION_DIR_SHIFT: u32 = 3;
/// Mask of the direction bit, once shifted down.
pub const ACTION_DIR_MASK: u32 = 1;
/// Flag: more actions are queued.
pub const ACTION_MORE: u32 = 16;
/// Shift of the cell's bits.
pub const ACTION_CELL_SHIFT: u32 = 5;
/// Mask of the cell's bits, once shifted down.
pub const ACTION_CELL_MASK: u32 = 0xffff;
/// Shift of the status bits.
pub const ACTION_STATUS_SHIFT: u32 = 21;
/// Mask of the status bits, once shifted down.
pub const STATUS_MASK: u32 = 3;
/// Status bit: an outgoing message may run ahead.
pub const STATUS_AHEAD_OUTGOING: u32 = 1 << DIR_OUTGOING;
/// Status bit: an incoming message may run ahead.
pub const STATUS_AHEAD_INCOMING: u32 = 1 << DIR_INCOMING;
/// The status of a pipeline no message has entered and that has not
/// closed, including one whose native state is not made yet.
pub const STATUS_NEW: u32 = STATUS_AHEAD_OUTGOING | STATUS_AHEAD_INCOMING;
/// The slot is the packed value divided by this (2^23).
pub const ACTION_SLOT_UNIT: u32 = 8_388_608;
/// Slots and tickets must stay below this (2^30), so that a packed action
/// stays an exact integer in a double.
pub const SLOT_LIMIT: u32 = 1 << 30;
/// No action is waiting and no direction may run ahead ([`none`] of 0).
pub const ACTION_NONE: f64 = 0.0;
/// A message submitted to a stopped direction was refused (below every
/// [`none`]).
pub const SUBMIT_REFUSED: f64 = -4.0;

/// Codec result: the message went to a worker; its result comes later.
pub const CODEC_PENDING: i32 = 0;
/// Codec result: the inflated message is longer than maxLength.
pub const CODEC_TOO_LARGE: i32 = 1;
/// Codec result: the compressed data is corrupt.
pub const CODEC_CORRUPT: i32 = 2;
/// Codec result: the session is not active (never negotiated, or closed).
pub const CODEC_INACTIVE: i32 = 3;
/// Codec result: compression failed.
pub const CODEC_COMPRESS_FAILED: i32 = 4;
/// Codec result: under the extension's threshold; send the message as it
/// is, RSV1 clear.
pub const CODEC_UNCOMPRESSED: i32 = 5;
/// Codec result of a worker's job: the data came back (the other codes are
/// failures).
pub const CODEC_DONE: i32 = -1;
/// Codec result: the data, `n` bytes, is at the start of the buffer the
/// caller passed for it (its slab), and the result is `CODEC_IN_SLAB + n`.
pub const CODEC_IN_SLAB: i32 = 16;

/// Every number above by its name, as the binding exports them to
/// JavaScript (`wireConstants()`).
pub const CONSTANTS: &[(&str, f64)] = &[
    ("ERROR_INVALID_HEADER", ERROR_INVALID_HEADER as f64),
    ("ERROR_NAME_TAKEN", ERROR_NAME_TAKEN as f64),
    (
        "RSV_CONFLICT_HOLDER_SHIFT",
        RSV_CONFLICT_HOLDER_SHIFT as f64,
    ),
    ("NEGOTIATED_NOTHING", NEGOTIATED_NOTHING as f64),
    ("DIR_OUTGOING", DIR_OUTGOING as f64),
    ("DIR_INCOMING", DIR_INCOMING as f64),
    ("ACTION_CALL", ACTION_CALL as f64),
    ("ACTION_PREFIX", ACTION_PREFIX as f64),
    ("ACTION_DELIVER", ACTION_DELIVER as f64),
    ("ACTION_DELIVER_ERROR", ACTION_DELIVER_ERROR as f64),
    ("ACTION_DROP", ACTION_DROP as f64),
    ("ACTION_CLOSE_SESSION", ACTION_CLOSE_SESSION as f64),
    ("ACTION_CLOSED", ACTION_CLOSED as f64),
    ("ACTION_KIND_MASK", ACTION_KIND_MASK as f64),
    ("ACTION_DIR_SHIFT", ACTION_DIR_SHIFT as f64),
    ("ACTION_DIR_MASK", ACTION_DIR_MASK as f64),
    ("ACTION_MORE", ACTION_MORE as f64),
    ("ACTION_CELL_SHIFT", ACTION_CELL_SHIFT as f64),
    ("ACTION_CELL_MASK", ACTION_CELL_MASK as f64),
    ("ACTION_STATUS_SHIFT", ACTION_STATUS_SHIFT as f64),
    ("STATUS_MASK", STATUS_MASK as f64),
    ("STATUS_AHEAD_OUTGOING", STATUS_AHEAD_OUTGOING as f64),
    ("STATUS_AHEAD_INCOMING", STATUS_AHEAD_INCOMING as f64),
    ("STATUS_NEW", STATUS_NEW as f64),
    ("ACTION_SLOT_UNIT", ACTION_SLOT_UNIT as f64),
    ("SLOT_LIMIT", SLOT_LIMIT as f64),
    ("ACTION_NONE", ACTION_NONE),
    ("SUBMIT_REFUSED", SUBMIT_REFUSED),
    ("CODEC_PENDING", CODEC_PENDING as f64),
    ("CODEC_TOO_LARGE", CODEC_TOO_LARGE as f64),
    ("CODEC_CORRUPT", CODEC_CORRUPT as f64),
    ("CODEC_INACTIVE", CODEC_INACTIVE as f64),
    ("CODEC_COMPRESS_FAILED", CODEC_COMPRESS_FAILED as f64),
    ("CODEC_UNCOMPRESSED", CODEC_UNCOMPRESSED as f64),
    ("CODEC_DONE", CODEC_DONE as f64),
    ("CODEC_IN_SLAB", CODEC_IN_SLAB as f64),
];

/// The answer "no action" with the pipeline's `status`: 0 down to -3.
pub fn none(status: u32) -> f64 {
    -f64::from(status & STATUS_MASK)
}

/// `action` packed for JavaScript; `more` when others are queued behind
/// it; `status` the pipeline's (see above).
pub fn pack(action: Action, more: bool, status: u32) -> f64 {
    let (kind, dir, cell, slot) = match action {
        Action::Call { cell, dir, slot } => (ACTION_CALL, dir, cell, slot),
        Action::Prefix { cell, slot } => (ACTION_PREFIX, Direction::Outgoing, cell, slot),
        Action::Deliver { dir, slot, error } => (
            if error {
                ACTION_DELIVER_ERROR
            } else {
                ACTION_DELIVER
            },
            dir,
            0,
            slot,
        ),
        Action::Drop { dir, slot } => (ACTION_DROP, dir, 0, slot),
        Action::CloseSession { cell } => (ACTION_CLOSE_SESSION, Direction::Outgoing, cell, 0),
        Action::Closed { ticket } => (ACTION_CLOSED, Direction::Outgoing, 0, ticket),
    };
    let low = kind
        | (dir as u32 & ACTION_DIR_MASK) << ACTION_DIR_SHIFT
        | if more { ACTION_MORE } else { 0 }
        | ((cell as u32) & ACTION_CELL_MASK) << ACTION_CELL_SHIFT
        | (status & STATUS_MASK) << ACTION_STATUS_SHIFT;
    f64::from(low) + f64::from(ACTION_SLOT_UNIT) * f64::from(slot % SLOT_LIMIT)
}

/// A packed action read back as JavaScript reads it: the kind, the
/// direction's number, the more bit, the cell, the status and the slot.
pub fn unpack(packed: f64) -> (u32, u32, bool, u32, u32, u32) {
    let slot = (packed / f64::from(ACTION_SLOT_UNIT)).floor();
    let low = (packed - slot * f64::from(ACTION_SLOT_UNIT)) as u32;
    (
        low & ACTION_KIND_MASK,
        (low >> ACTION_DIR_SHIFT) & ACTION_DIR_MASK,
        low & ACTION_MORE != 0,
        (low >> ACTION_CELL_SHIFT) & ACTION_CELL_MASK,
        (low >> ACTION_STATUS_SHIFT) & STATUS_MASK,
        slot as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_packs_and_reads_back() {
        let actions = [
            (
                Action::Call {
                    cell: 3,
                    dir: Direction::Incoming,
                    slot: 7,
                },
                (ACTION_CALL, DIR_INCOMING, 3, 7),
            ),
            (
                Action::Prefix { cell: 2, slot: 9 },
                (ACTION_PREFIX, DIR_OUTGOING, 2, 9),
            ),
            (
                Action::Deliver {
                    dir: Direction::Incoming,
                    slot: 4,
                    error: false,
                },
                (ACTION_DELIVER, DIR_INCOMING, 0, 4),
            ),
            (
                Action::Deliver {
                    dir: Direction::Outgoing,
                    slot: 5,
                    error: true,
                },
                (ACTION_DELIVER_ERROR, DIR_OUTGOING, 0, 5),
            ),
            (
                Action::Drop {
                    dir: Direction::Incoming,
                    slot: 6,
                },
                (ACTION_DROP, DIR_INCOMING, 0, 6),
            ),
            (
                Action::CloseSession { cell: 0xffff },
                (ACTION_CLOSE_SESSION, DIR_OUTGOING, 0xffff, 0),
            ),
            (
                Action::Closed {
                    ticket: SLOT_LIMIT - 1,
                },
                (ACTION_CLOSED, DIR_OUTGOING, 0, SLOT_LIMIT - 1),
            ),
        ];
        for (action, (kind, dir, cell, slot)) in actions {
            let slot = slot % SLOT_LIMIT;
            for more in [false, true] {
                for status in 0..=STATUS_MASK {
                    let packed = pack(action, more, status);
                    assert!(packed > ACTION_NONE, "{action:?}");
                    // Exact in a double: below 2^53.
                    assert!(packed < 9_007_199_254_740_992.0);
                    assert_eq!(
                        unpack(packed),
                        (kind, dir, more, cell, status, slot),
                        "{action:?}"
                    );
                }
            }
        }
        for status in 0..=STATUS_MASK {
            assert!(none(status) <= ACTION_NONE && none(status) > SUBMIT_REFUSED);
        }
    }

    #[test]
    fn every_constant_is_exported_once() {
        let source = include_str!("wire.rs");
        let declared = source
            .lines()
            .filter(|line| line.starts_with("pub const ") && !line.contains("CONSTANTS"))
            .count();
        assert_eq!(CONSTANTS.len(), declared);
        let mut names: Vec<&str> = CONSTANTS.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CONSTANTS.len());
    }

    #[test]
    fn directions_are_numbered_as_the_core_numbers_them() {
        assert_eq!(
            Direction::from_index(DIR_OUTGOING),
            Some(Direction::Outgoing)
        );
        assert_eq!(
            Direction::from_index(DIR_INCOMING),
            Some(Direction::Incoming)
        );
        assert_eq!(Direction::from_index(2), None);
        const { assert!(SUBMIT_REFUSED < ACTION_NONE) };
    }
}
