//! Passing over the parts of a Torrow event that no message reads.
//!
//! The real event is about 90 KB, and 85 % of it is one member, `Service.CaseActionList`, that
//! no message uses. serde_json checks every token of a member it skips, at about 1 GB/s. Here a
//! member that no field of ours reads is passed over by its brackets instead, 64 bytes at a
//! time, looking only at quotes, backslashes and brackets, and its value becomes `null` in a
//! copy of the body that serde then reads.
//!
//! - Members are passed over at the top level and inside the objects [`event_shape`] names.
//!   Which members are kept comes from the structs themselves (their serde field names), so a
//!   field added to a struct is kept without anyone remembering this file.
//! - A member passed over is only checked for strings that end and brackets that balance: what
//!   it holds never reaches a message.
//! - Anything unexpected (not an object, a key with an escape, a member that does not end) gives
//!   `None`, and the body is read as it came: every error is serde's, with the body's own line
//!   and column.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::de::{Deserialize, Deserializer, Visitor};

use super::{CaseActionEvent, CaseItem, Service};

const NULL: &[u8] = b"null";

/// What an object of the event is read as.
struct Shape {
    /// The members some field reads: the serde names of the fields of the struct that reads it.
    kept: &'static [&'static str],
    /// Members whose objects are walked member by member too.
    descend: Vec<(&'static str, Shape)>,
}

/// The event's shape: its top level, and inside it the case and the service.
fn event_shape() -> &'static Shape {
    static SHAPE: OnceLock<Shape> = OnceLock::new();
    SHAPE.get_or_init(|| {
        let flat = |kept| Shape {
            kept,
            descend: Vec::new(),
        };
        Shape {
            kept: field_names::<CaseActionEvent>(),
            descend: vec![
                ("CaseItem", flat(field_names::<CaseItem>())),
                ("Service", flat(field_names::<Service>())),
            ],
        }
    })
}

/// The body with the value of every member that no field reads replaced by `null` (borrowed
/// when there is none), or `None` when the body is not laid out as this expects.
pub(super) fn skimmed(body: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut copy = SkimmedCopy {
        body,
        out: Vec::new(),
        copied: 0,
    };
    let start = whitespace_end(body, 0);
    copy.object(start, event_shape())?;
    Some(copy.finish())
}

/// The body as it is being copied: `out` holds `body[..copied]` with the values passed over.
struct SkimmedCopy<'a> {
    body: &'a [u8],
    out: Vec<u8>,
    copied: usize,
}

impl<'a> SkimmedCopy<'a> {
    /// Walks the object that opens at `at` as `shape` says. Returns the index just past its
    /// closing brace.
    fn object(&mut self, at: usize, shape: &Shape) -> Option<usize> {
        let b = self.body;
        if b.get(at) != Some(&b'{') {
            return None;
        }
        let mut i = whitespace_end(b, at + 1);
        if b.get(i) == Some(&b'}') {
            return Some(i + 1);
        }
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_end = string_end(b, i)?;
            let key = std::str::from_utf8(&b[i + 1..key_end - 1]).ok()?;
            if key.contains('\\') {
                return None;
            }
            i = whitespace_end(b, key_end);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let value = whitespace_end(b, i + 1);
            let inner = shape.descend.iter().find(|(name, _)| *name == key);
            let value_end = match inner {
                Some((_, inner)) if b.get(value) == Some(&b'{') => self.object(value, inner)?,
                _ => {
                    let end = value_end(b, value)?;
                    // A value no longer than `null` stays: serde skips it as fast, and the copy
                    // never grows past the body.
                    if end - value > NULL.len() && !shape.kept.contains(&key) {
                        self.replace(value, end);
                    }
                    end
                }
            };
            i = whitespace_end(b, value_end);
            match b.get(i) {
                Some(b',') => i = whitespace_end(b, i + 1),
                Some(b'}') => return Some(i + 1),
                _ => return None,
            }
        }
    }

    /// `body[start..end]` becomes `null` in the copy.
    fn replace(&mut self, start: usize, end: usize) {
        if self.out.is_empty() {
            self.out
                .reserve(self.body.len() - (end - start) + NULL.len());
        }
        self.out.extend_from_slice(&self.body[self.copied..start]);
        self.out.extend_from_slice(NULL);
        self.copied = end;
    }

    fn finish(mut self) -> Cow<'a, [u8]> {
        if self.copied == 0 {
            return Cow::Borrowed(self.body);
        }
        self.out.extend_from_slice(&self.body[self.copied..]);
        Cow::Owned(self.out)
    }
}

/// JSON's whitespace (narrower than `u8::is_ascii_whitespace`, which takes form feed too).
fn is_space(c: &u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn whitespace_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(is_space) {
        i += 1;
    }
    i
}

/// The index just past the value that starts at `at`.
fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => container_end(b, at),
        _ => {
            let len = b[at..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']') || is_space(c))
                .unwrap_or(b.len() - at);
            (len > 0).then_some(at + len)
        }
    }
}

/// The index just past the string whose opening quote is at `at`.
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..])?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// The index just past the array or object that opens at `at`.
fn container_end(b: &[u8], at: usize) -> Option<usize> {
    let mut walk = Walk::default();
    let mut i = at;
    while let Some(chunk) = b.get(i..i + BLOCK) {
        if let Some(k) = block(&mut walk, chunk.try_into().ok()?) {
            return Some(i + k);
        }
        i += BLOCK;
    }
    b[i..].iter().position(|&c| walk.byte(c)).map(|k| i + k + 1)
}

/// Where a walk through a container stands.
#[derive(Default)]
struct Walk {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Walk {
    /// Takes the next byte; true when it closes the container.
    #[inline]
    fn byte(&mut self, c: u8) -> bool {
        if self.escaped {
            self.escaped = false;
        } else if self.in_string {
            match c {
                b'\\' => self.escaped = true,
                b'"' => self.in_string = false,
                _ => {}
            }
        } else if c == b'"' {
            self.in_string = true;
        } else {
            return self.bracket(c);
        }
        false
    }

    /// Takes a byte outside strings; true when it closes the container.
    #[inline]
    fn bracket(&mut self, c: u8) -> bool {
        match c {
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }
}

/// Bytes compared 16 at once (SSE2 on x86-64, NEON on ARM, through `wide`), in blocks of 64
/// so that each byte is one bit of a mask.
const BLOCK: usize = 64;

/// Walks one block; `Some(k)` when the container ends just before `block[k]`.
fn block(walk: &mut Walk, block: &[u8; BLOCK]) -> Option<usize> {
    use wide::u8x16;
    let lanes: [u8x16; 4] = std::array::from_fn(|n| {
        u8x16::new(block[16 * n..16 * (n + 1)].try_into().expect("16 bytes"))
    });
    if walk.escaped || mask(&lanes, |v| v.simd_eq(u8x16::splat(b'\\'))) != 0 {
        // Rare: an escape. Byte by byte through this block.
        return block.iter().position(|&c| walk.byte(c)).map(|k| k + 1);
    }
    let quotes = mask(&lanes, |v| v.simd_eq(u8x16::splat(b'"')));
    // `[` and `{` differ only in the bit 0x20, and so do `]` and `}`.
    let opening = mask(&lanes, |v| {
        (v & u8x16::splat(!0x20)).simd_eq(u8x16::splat(b'['))
    });
    let closing = mask(&lanes, |v| {
        (v & u8x16::splat(!0x20)).simd_eq(u8x16::splat(b']'))
    });
    // Bit k of `inside`: the quotes up to byte k are odd, so byte k is within a string.
    let mut inside = quotes;
    for shift in [1, 2, 4, 8, 16, 32] {
        inside ^= inside << shift;
    }
    let odd = inside >> 63 == 1;
    if walk.in_string {
        inside = !inside;
    }
    let (opening, closing) = (opening & !inside, closing & !inside);
    if (closing.count_ones() as usize) < walk.depth {
        // The container cannot end in this block: no bracket needs looking at one by one.
        walk.depth = walk.depth + opening.count_ones() as usize - closing.count_ones() as usize;
    } else {
        let mut brackets = opening | closing;
        while brackets != 0 {
            let k = brackets.trailing_zeros() as usize;
            if walk.bracket(block[k]) {
                return Some(k + 1);
            }
            brackets &= brackets - 1;
        }
    }
    walk.in_string ^= odd;
    None
}

/// Bit `k` set when `test` holds for byte `k` of the block's four lanes.
#[inline(always)]
fn mask(lanes: &[wide::u8x16; 4], test: impl Fn(wide::u8x16) -> wide::u8x16) -> u64 {
    (lanes.iter().enumerate()).fold(0_u64, |mask, (n, lane)| {
        mask | u64::from(test(*lane).to_bitmask()) << (16 * n)
    })
}

/// The names serde reads for the struct `T` (its fields, renamed), as its derived `Deserialize`
/// tells a deserializer.
fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only notes the field names a derived `Deserialize` asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom(
            "only a struct's field names are read",
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("field names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// The event as serde reads the body with nothing passed over.
    fn unskimmed(body: &[u8]) -> Result<CaseActionEvent, String> {
        let mut event: CaseActionEvent = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        event.build_index();
        Ok(event)
    }

    fn parsed(body: &[u8]) -> Result<CaseActionEvent, String> {
        CaseActionEvent::parse(body).map_err(|e| match e {
            crate::event::EventError::Json(why) => why,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn the_kept_names_are_the_structs_fields() {
        let shape = event_shape();
        for name in [
            "EventType",
            "CaseItem",
            "Service",
            "Resources",
            "CaseParticipants",
        ] {
            assert!(shape.kept.contains(&name), "{name} in {:?}", shape.kept);
        }
        for (name, inner) in &shape.descend {
            assert!(shape.kept.contains(name), "{name} is a field");
            assert!(!inner.kept.is_empty(), "{name}'s fields are known");
        }
        assert!(field_names::<Service>().contains(&"ItemInfo"));
        assert!(field_names::<CaseItem>().contains(&"BookingResourceList"));
    }

    #[test]
    fn every_fixture_reads_the_same_and_unused_members_become_null() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for entry in std::fs::read_dir(dir).unwrap() {
            let body = std::fs::read(entry.unwrap().path()).unwrap();
            assert_eq!(parsed(&body).unwrap(), unskimmed(&body).unwrap());
        }
        let body =
            br#"{"Service": {"Id": "s", "CaseActionList": [{"a": "]}"}], "Description": "d"},
            "CaseItem": {"Id": "c", "Junk": {"x": [1, 2]}}, "Unknown": "x\"}", "EventType": 2}"#;
        let skimmed = skimmed(body).unwrap();
        assert_eq!(
            String::from_utf8(skimmed.to_vec()).unwrap(),
            r#"{"Service": {"Id": "s", "CaseActionList": null, "Description": "d"},
            "CaseItem": {"Id": "c", "Junk": null}, "Unknown": null, "EventType": 2}"#
        );
        assert_eq!(parsed(body).unwrap(), unskimmed(body).unwrap());
    }

    #[test]
    fn what_it_cannot_follow_is_read_as_it_came_with_serdes_own_error() {
        let bodies: [&[u8]; 8] = [
            br#"{"CaseItem": {"Id": "c"}, "Servic\u0065": {"Id": "escaped key"}}"#,
            br#"{"CaseItem": {"Id": "c"}, "Unknown": [1, 2"#,
            br#"{"CaseItem": {"Id": "c"}, "Unknown": "never ends}"#,
            br#"{"CaseItem": {"Id": "c"}} trailing"#,
            br#"{"CaseItem": {"Id": "c"}, "CaseItem": {"Id": "twice"}}"#,
            br#"{"CaseItem": {"Id": 7}}"#,
            br#"["CaseItem"]"#,
            b"{\"CaseItem\": {\"Id\": \"c\"},\n \"Unknown\": {\"a\": 1},\n \"Resources\": [{,]}",
        ];
        for body in bodies {
            assert_eq!(
                parsed(body),
                unskimmed(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(
            skimmed(bodies[0]).is_none(),
            "an escaped key is not guessed at"
        );
    }

    #[test]
    fn a_member_no_field_reads_is_checked_only_for_balance() {
        let body = br#"{"CaseItem": {"Id": "c"}, "Unknown": [1,, tru]}"#;
        assert!(unskimmed(body).is_err());
        assert_eq!(parsed(body).unwrap().case().id.as_deref(), Some("c"));
    }

    #[test]
    fn the_copy_is_never_longer_than_the_body() {
        let members: String = (0..1000).map(|n| format!(r#""k{n}": 1, "#)).collect();
        let body = format!(r#"{{{members}"CaseItem": {{"Id": "c"}}, "Long": [1, 2, 3]}}"#);
        let skimmed = skimmed(body.as_bytes()).unwrap();
        assert!(skimmed.len() < body.len());
        assert!(skimmed.ends_with(br#""Long": null}"#));
        assert_eq!(parsed(body.as_bytes()), unskimmed(body.as_bytes()));
    }

    /// Random members full of quotes, escapes and brackets, placed at every offset within a
    /// block: the skimmed body must read exactly as the body does.
    #[test]
    fn random_members_read_the_same_at_every_offset() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let pieces = [
            "\"", "\\\\", "\\\"", "{", "}", "[", "]", "Y", "_", "y", " ", "\n", "ё", "a", ",", ":",
        ];
        for round in 0..3000 {
            let text: String = (0..rng.random_range(0..40))
                .map(|_| pieces[rng.random_range(0..pieces.len())])
                .collect();
            let string = serde_json::to_string(&text).unwrap();
            let nested =
                format!(r#"[{{"k{round}": {string}}}, [{string}, {{}}, []], -1.5e3, null]"#);
            let pad = " ".repeat(round % 17);
            let body = format!(
                r#"{{{pad}"Unknown": {nested}, "Service": {{"Junk": {nested},{pad}"Description": {string}}},
                "CaseItem": {{"Description": {string}, "More": {string}}}, "Tail": {string}}}"#
            );
            let body = body.as_bytes();
            assert!(skimmed(body).is_some(), "{}", String::from_utf8_lossy(body));
            let event = parsed(body).unwrap();
            assert_eq!(event, unskimmed(body).unwrap());
            assert_eq!(event.case().description.as_deref(), Some(text.as_str()));
        }
    }
}
