//! The registry of extensions and the bookkeeping of a handshake: which
//! extension holds which RSV bit and which offers go to which extension. Its
//! failures are values ([`NameTaken`], [`RsvConflict`]); the binding hands
//! them to JavaScript as numbers, and lib/errors.js words them as the
//! original `websocket-extensions` does.

use crate::parser::{params_to_json, Offer};
use std::fmt::Write;

/// A registered extension: its name and the RSV bits it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionInfo {
    /// The name it negotiates under (`permessage-deflate`).
    pub name: String,
    /// Whether it uses RSV1, RSV2 and RSV3.
    pub rsv: [bool; 3],
}

/// An RSV bit an extension wants that another one already holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsvConflict {
    /// 1, 2 or 3.
    pub bit: u8,
    /// The index of the extension that holds it.
    pub holder: usize,
}

/// An extension cannot be registered: another one has its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameTaken;

/// The extensions registered with one container, in registration order, and
/// the RSV bits the negotiated ones hold.
#[derive(Debug, Default)]
pub struct Registry {
    extensions: Vec<ExtensionInfo>,
    /// The index of the extension holding each RSV bit. Bits once taken
    /// stay taken for the life of the container.
    reserved: [Option<usize>; 3],
}

impl Registry {
    /// The name of extension `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.extensions.get(index).map(|e| e.name.as_str())
    }

    /// Registers an extension, keeping registration order; fails when the
    /// name is taken.
    pub fn add(&mut self, info: ExtensionInfo) -> Result<usize, NameTaken> {
        if self.index_of(&info.name).is_some() {
            return Err(NameTaken);
        }
        self.extensions.push(info);
        Ok(self.extensions.len() - 1)
    }

    /// The registration index of the extension called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.extensions.iter().position(|e| e.name == name)
    }

    /// The first RSV bit (checked 1, 2, 3) that extension `index` uses and
    /// another extension, or itself, already holds.
    pub fn conflict(&self, index: usize) -> Option<RsvConflict> {
        let ext = self.extensions.get(index)?;
        (0..3).find_map(|bit| match (self.reserved[bit], ext.rsv[bit]) {
            (Some(holder), true) => Some(RsvConflict {
                bit: bit as u8 + 1,
                holder,
            }),
            _ => None,
        })
    }

    /// Takes the bits extension `index` uses.
    pub fn reserve(&mut self, index: usize) {
        let Some(ext) = self.extensions.get(index) else {
            return;
        };
        for bit in 0..3 {
            if ext.rsv[bit] && self.reserved[bit].is_none() {
                self.reserved[bit] = Some(index);
            }
        }
    }

    /// Gives back the bits extension `index` holds.
    pub fn unreserve(&mut self, index: usize) {
        for holder in &mut self.reserved {
            if *holder == Some(index) {
                *holder = None;
            }
        }
    }

    /// For each registered extension, in registration order, that the client
    /// offered: its index and its offers, in header order.
    pub fn offers_by_extension<'a>(&self, offers: &'a [Offer]) -> Vec<(usize, Vec<&'a Offer>)> {
        self.extensions
            .iter()
            .enumerate()
            .filter_map(|(i, ext)| {
                let mine: Vec<&Offer> = offers.iter().filter(|o| o.name == ext.name).collect();
                (!mine.is_empty()).then_some((i, mine))
            })
            .collect()
    }

    /// The RSV bits that message frames may carry once the given extensions
    /// are active, as a mask (bit 0 for RSV1).
    pub fn allowed_rsv(&self, active: &[usize]) -> u32 {
        active
            .iter()
            .filter_map(|&i| self.extensions.get(i))
            .flat_map(|e| e.rsv.iter().enumerate())
            .filter(|(_, &on)| on)
            .fold(0, |mask, (bit, _)| mask | (1 << bit))
    }
}

/// `[[index, [params, ...]], ...]` as JSON, for the binding to hand to the
/// server session factories.
pub fn response_plan_json(plan: &[(usize, Vec<&Offer>)]) -> String {
    let mut out = String::from("[");
    for (n, (index, offers)) in plan.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let _ = write!(out, "[{index},[");
        for (k, offer) in offers.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            params_to_json(&mut out, &offer.params);
        }
        out.push_str("]]");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_header;

    fn info(name: &str, rsv: [bool; 3]) -> ExtensionInfo {
        ExtensionInfo {
            name: name.into(),
            rsv,
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut r = Registry::default();
        assert_eq!(r.add(info("a", [true, false, false])), Ok(0));
        assert_eq!(r.add(info("a", [false; 3])), Err(NameTaken));
    }

    #[test]
    fn bits_are_checked_in_order_and_stay_taken() {
        let mut r = Registry::default();
        r.add(info("a", [false, true, true])).unwrap();
        r.add(info("b", [true, false, true])).unwrap();
        r.add(info("c", [false; 3])).unwrap();
        assert_eq!(r.conflict(1), None);
        r.reserve(0);
        assert_eq!(r.conflict(1), Some(RsvConflict { bit: 3, holder: 0 }));
        assert_eq!(r.conflict(0), Some(RsvConflict { bit: 2, holder: 0 }));
        assert_eq!(r.conflict(2), None);
        r.unreserve(0);
        assert_eq!(r.conflict(1), None);
        r.reserve(0);
        assert_eq!(r.allowed_rsv(&[0]), 0b110);
        assert_eq!(r.allowed_rsv(&[0, 1]), 0b111);
        assert_eq!(r.allowed_rsv(&[]), 0);
    }

    #[test]
    fn offers_are_grouped_in_registration_order() {
        let mut r = Registry::default();
        r.add(info("b", [false; 3])).unwrap();
        r.add(info("a", [false; 3])).unwrap();
        r.add(info("z", [false; 3])).unwrap();
        let offers = parse_header("a; x=1, b, a; y").unwrap();
        let plan = r.offers_by_extension(&offers);
        assert_eq!(plan.len(), 2);
        assert_eq!(
            response_plan_json(&plan),
            r#"[[0,[{}]],[1,[{"x":1},{"y":true}]]]"#
        );
    }
}
