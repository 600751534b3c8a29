//! A request body parsed in place, for checking and counting an accepted batch without building a
//! `serde_json::Value`: one flat vector of entries (a container is followed by its members), whose
//! strings borrow from the body unless they hold escapes. No allocation per node, where a `Value`
//! allocates for every key, string, object and array.
//!
//! The parsing is serde_json's own, not hand-written: [`Doc::parse`] checks the body is UTF-8 once, then
//! drives `serde_json::Deserializer::from_str` with a seed and visitor ([`Append`]) that append the
//! entries as the deserializer reports the values. So a body is read exactly as
//! `serde_json::from_slice::<Value>` reads it (the same grammar, strings and `Number`s, the same
//! recursion limit, the same refusal of trailing bytes), or the parse gives up: on an object repeating a
//! key, which a `Value` reads as its last. A body it gives up on, or that is not JSON, takes the `Value`
//! path (whose errors word the refusal). The tests compare the two readings on valid, invalid and
//! randomly mangled bodies. The schema check runs on a [`Doc`] through jsonschema's support for custom
//! JSON representations ([`InPlace`], built with `jsonschema::options_for`).

use std::borrow::Cow;
use std::fmt;

use jsonschema::json::{Array, Json, Node, NodeIdentity, Object};
use jsonschema::JsonType;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One node. A container's members follow it, up to `end` (the index after its last descendant); an
/// object's members are pairs of a key (a `String` entry) and a value, and `keys` has the
/// [`key_bit`] of each of its keys (a lookup of a key whose bit is not there ends at once).
#[derive(Debug, PartialEq)]
pub(crate) enum Entry<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array { len: usize, end: usize },
    Object { len: usize, end: usize, keys: u64 },
}

/// A parsed body (or a `Value` seen the same way, [`Doc::from_value`]).
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Doc<'a> {
    /// Parses `body` to the entries `serde_json::from_slice::<Value>` would give, or `None`: then the
    /// caller takes the `Value` path. `None` for every body serde_json refuses, and for an object
    /// naming a key twice, which serde_json accepts (see [`Append`]).
    pub(crate) fn parse(body: &'a [u8]) -> Option<Doc<'a>> {
        // UTF-8 checked once here, not string by string as `from_slice` checks it: the same parser
        // reading a `&str` skips that. A body that is not UTF-8 is one serde_json refuses (outside a
        // string, a byte that is not ASCII is a syntax error; inside one, an invalid string).
        let text = std::str::from_utf8(body).ok()?;
        // About one entry per 16 bytes of the wire format: one allocation for most bodies.
        let mut entries = Vec::with_capacity(body.len() / 16 + 1);
        // What `serde_json::from_str` does, with our seed in place of `Value`'s `Deserialize`.
        let mut deserializer = serde_json::Deserializer::from_str(text);
        Append {
            entries: &mut entries,
        }
        .deserialize(&mut deserializer)
        .ok()?;
        // Nothing but whitespace after the value.
        deserializer.end().ok()?;
        Some(Doc { entries })
    }

    /// The same view of an already parsed `Value` (its strings borrowed).
    pub(crate) fn from_value(value: &'a Value) -> Doc<'a> {
        fn push<'a>(entries: &mut Vec<Entry<'a>>, value: &'a Value) {
            match value {
                Value::Null => entries.push(Entry::Null),
                Value::Bool(b) => entries.push(Entry::Bool(*b)),
                Value::Number(n) => entries.push(Entry::Number(n.clone())),
                Value::String(s) => entries.push(Entry::String(Cow::Borrowed(s))),
                Value::Array(items) => {
                    let at = entries.len();
                    entries.push(Entry::Null);
                    for item in items {
                        push(entries, item);
                    }
                    let end = entries.len();
                    entries[at] = Entry::Array {
                        len: items.len(),
                        end,
                    };
                }
                Value::Object(members) => {
                    let at = entries.len();
                    entries.push(Entry::Null);
                    let mut keys = 0;
                    for (key, item) in members {
                        keys |= key_bit(key);
                        entries.push(Entry::String(Cow::Borrowed(key)));
                        push(entries, item);
                    }
                    let end = entries.len();
                    entries[at] = Entry::Object {
                        len: members.len(),
                        end,
                        keys,
                    };
                }
            }
        }
        let mut entries = Vec::new();
        push(&mut entries, value);
        Doc { entries }
    }

    /// The root node.
    pub(crate) fn root(&self) -> DocNode<'_> {
        DocNode {
            entries: &self.entries,
            at: 0,
        }
    }
}

/// The seed and visitor for one value: appends its entry to `entries`, a container's members after
/// it, from what serde_json's deserializer reports, in the terms `Value`'s own visitor reads them in.
///
/// - Strings: `visit_borrowed_str` for a string without escapes (borrowed from the body), `visit_str`
///   for one with escapes (owned). serde_json checks the escapes, surrogate pairs included.
/// - Numbers: `visit_u64`, `visit_i64` and `visit_f64`, turned into a `Number` as `Value` turns them,
///   so they are the same `Number`s. This workspace enables serde_json's `float_roundtrip` (through
///   jsonschema), which changes how the deserializer reads a float, for `Value` and for us alike; it does
///   not enable `arbitrary_precision`, under which a number would come as a map of one private key (and
///   be read here as an object: the comparisons with `Value` in the tests would fail).
/// - Containers: the container's entry first, its length and end patched in after its members.
/// - Depth: serde_json's recursion limit (127 levels of nesting, a 128th refused) bounds it, as it
///   does for a `Value`: this parse recurses no deeper than `Value`'s, and needs no limit of its own.
///
/// It gives up (an error, so `None` from [`Doc::parse`]) on an object repeating a key, which serde_json
/// accepts: a `Value` keeps the last one, where the entries would keep both.
struct Append<'v, 'a> {
    entries: &'v mut Vec<Entry<'a>>,
}

impl<'de> DeserializeSeed<'de> for Append<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Append<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.entries.push(Entry::Null);
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<(), E> {
        self.entries.push(Entry::Bool(b));
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<(), E> {
        self.entries.push(Entry::Number(n.into()));
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<(), E> {
        self.entries.push(Entry::Number(n.into()));
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<(), E> {
        // As `Value` does (serde_json reports no float that is not finite: it refuses `1e400`).
        self.entries
            .push(Number::from_f64(n).map_or(Entry::Null, Entry::Number));
        Ok(())
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<(), E> {
        self.entries.push(Entry::String(Cow::Borrowed(s)));
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        self.entries.push(Entry::String(Cow::Owned(s.to_owned())));
        Ok(())
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<(), E> {
        self.entries.push(Entry::String(Cow::Owned(s)));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.entries.len();
        self.entries.push(Entry::Null);
        let mut len = 0;
        while seq
            .next_element_seed(Append {
                entries: &mut *self.entries,
            })?
            .is_some()
        {
            len += 1;
        }
        let end = self.entries.len();
        self.entries[at] = Entry::Array { len, end };
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.entries.len();
        self.entries.push(Entry::Null);
        let mut len = 0;
        // One bit per key's length and ends: only a key whose bit is already set can be a repeat.
        let (mut seen, mut maybe_repeated) = (0u64, false);
        while let Some(key) = map.next_key_seed(Key)? {
            let bit = key_bit(&key);
            maybe_repeated |= seen & bit != 0;
            seen |= bit;
            self.entries.push(Entry::String(key));
            map.next_value_seed(Append {
                entries: &mut *self.entries,
            })?;
            len += 1;
        }
        let end = self.entries.len();
        self.entries[at] = Entry::Object {
            len,
            end,
            keys: seen,
        };
        if maybe_repeated && repeats_a_key(self.entries, at, len) {
            return Err(A::Error::custom(
                "an object repeats a key: left to serde_json::Value",
            ));
        }
        Ok(())
    }
}

/// The seed and visitor for an object's key: borrowed from the body unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

/// A key's bit among 64, from its length and its first and last bytes.
fn key_bit(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let ends = match bytes {
        [] => 0,
        [first, .., last] => usize::from(*first) * 7 + usize::from(*last) * 3,
        [only] => usize::from(*only) * 10,
    };
    1 << ((bytes.len() + ends) % 64)
}

/// Whether the object at `at` (with `len` members, all parsed) names a key twice.
fn repeats_a_key(entries: &[Entry<'_>], at: usize, len: usize) -> bool {
    let keys = Members {
        entries,
        next: at + 1,
        end: end_of(entries, at),
    }
    .map(|(key, _)| key);
    if len <= 16 {
        let mut seen: [&str; 16] = [""; 16];
        for (i, key) in keys.enumerate() {
            if seen[..i].contains(&key) {
                return true;
            }
            seen[i] = key;
        }
        false
    } else {
        let mut all: Vec<&str> = keys.collect();
        all.sort_unstable();
        all.windows(2).any(|w| w[0] == w[1])
    }
}

/// The index after the node at `at` and its descendants.
fn end_of(entries: &[Entry<'_>], at: usize) -> usize {
    match entries[at] {
        Entry::Array { end, .. } | Entry::Object { end, .. } => end,
        _ => at + 1,
    }
}

/// A node of a [`Doc`]: what the validator walks, and what the sink reads its counts from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocNode<'a> {
    entries: &'a [Entry<'a>],
    at: usize,
}

impl<'a> DocNode<'a> {
    fn entry(&self) -> &'a Entry<'a> {
        &self.entries[self.at]
    }

    /// The member `key` of an object (`None` when absent or not an object), as `Value::get`.
    pub(crate) fn get(&self, key: &str) -> Option<DocNode<'a>> {
        self.object()?.find(key, key_bit(key))
    }

    fn object(&self) -> Option<DocObject<'a>> {
        match *self.entry() {
            Entry::Object { len, end, keys } => Some(DocObject {
                entries: self.entries,
                at: self.at,
                len,
                end,
                keys,
            }),
            _ => None,
        }
    }

    fn array(&self) -> Option<DocArray<'a>> {
        match *self.entry() {
            Entry::Array { len, end } => Some(DocArray {
                entries: self.entries,
                at: self.at,
                len,
                end,
            }),
            _ => None,
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self.entry(), Entry::Object { .. })
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.entry(), Entry::Null)
    }

    pub(crate) fn as_str(&self) -> Option<&'a str> {
        match self.entry() {
            Entry::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self.entry() {
            Entry::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// An array's elements (none for anything else).
    pub(crate) fn elements(&self) -> Elements<'a> {
        match self.array() {
            Some(array) => array.elements(),
            None => Elements {
                entries: self.entries,
                next: 0,
                end: 0,
            },
        }
    }

    /// An array's length, `None` for anything else.
    pub(crate) fn array_len(&self) -> Option<usize> {
        self.array().map(|a| a.len)
    }

    /// The node as a `Value`, built.
    pub(crate) fn value(&self) -> Value {
        match self.entry() {
            Entry::Null => Value::Null,
            Entry::Bool(b) => Value::Bool(*b),
            Entry::Number(n) => Value::Number(n.clone()),
            Entry::String(s) => Value::String(s.to_string()),
            Entry::Array { .. } => Value::Array(self.elements().map(|e| e.value()).collect()),
            Entry::Object { .. } => {
                let mut map = Map::new();
                if let Some(object) = self.object() {
                    for (key, item) in object.members() {
                        map.insert(key.to_owned(), item.value());
                    }
                }
                Value::Object(map)
            }
        }
    }
}

/// An object node's members.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocObject<'a> {
    entries: &'a [Entry<'a>],
    at: usize,
    len: usize,
    end: usize,
    keys: u64,
}

impl<'a> DocObject<'a> {
    /// The member `key`, whose [`key_bit`] is `bit`.
    fn find(&self, key: &str, bit: u64) -> Option<DocNode<'a>> {
        if self.keys & bit == 0 {
            return None;
        }
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// An array node's elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocArray<'a> {
    entries: &'a [Entry<'a>],
    at: usize,
    len: usize,
    end: usize,
}

/// An object's members, in their order in the body.
#[derive(Debug)]
pub(crate) struct Members<'a> {
    entries: &'a [Entry<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, DocNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let key = match &self.entries[self.next] {
            Entry::String(s) => &**s,
            _ => "",
        };
        let value = self.next + 1;
        self.next = end_of(self.entries, value);
        Some((
            key,
            DocNode {
                entries: self.entries,
                at: value,
            },
        ))
    }
}

/// An array's elements, in order.
#[derive(Debug)]
pub(crate) struct Elements<'a> {
    entries: &'a [Entry<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = DocNode<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let at = self.next;
        self.next = end_of(self.entries, at);
        Some(DocNode {
            entries: self.entries,
            at,
        })
    }
}

/// [`Doc`] as a JSON representation for jsonschema (`jsonschema::options_for::<InPlace>()`).
#[derive(Debug)]
pub(crate) struct InPlace;

impl Json for InPlace {
    type Node<'a> = DocNode<'a>;
    /// The key, and its [`key_bit`].
    type PreparedKey = (Box<str>, u64);
    type StringBuffer = Vec<Entry<'static>>;

    const ACYCLIC: bool = true;
    // A lookup is a pass over the members, so a pass over the members beats any number of lookups
    // (bounded: jsonschema multiplies it by the number of names it looks for).
    const KEYS_PER_LOOKUP: usize = 1 << 16;

    fn prepare_key(key: &str) -> (Box<str>, u64) {
        (key.into(), key_bit(key))
    }

    fn with_string_node<T>(
        buffer: &mut Vec<Entry<'static>>,
        string: &str,
        f: impl FnOnce(DocNode<'_>) -> T,
    ) -> T {
        buffer.clear();
        buffer.push(Entry::String(Cow::Owned(string.to_owned())));
        f(DocNode {
            entries: buffer,
            at: 0,
        })
    }
}

impl<'a> Node<'a, InPlace> for DocNode<'a> {
    type Object = DocObject<'a>;
    type Array = DocArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<DocObject<'a>> {
        self.object()
    }

    fn as_array(&self) -> Option<DocArray<'a>> {
        self.array()
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        self.as_str().map(Cow::Borrowed)
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self.entry() {
            Entry::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.entry() {
            Entry::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        DocNode::is_null(self)
    }

    fn json_type(&self) -> JsonType {
        match self.entry() {
            Entry::Null => JsonType::Null,
            Entry::Bool(_) => JsonType::Boolean,
            Entry::Number(_) => JsonType::Number,
            Entry::String(_) => JsonType::String,
            Entry::Array { .. } => JsonType::Array,
            Entry::Object { .. } => JsonType::Object,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        // What `jsonschema::json::cmp::equal` answers, without building a string to compare.
        match (self.entry(), expected) {
            (Entry::String(s), Value::String(e)) => **s == **e,
            (Entry::String(_), _) => false,
            _ => jsonschema::json::cmp::equal(&self.value(), expected),
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(self.value())
    }

    fn identity(&self) -> Option<NodeIdentity> {
        // Every node is an entry of its own in one vector: its address is unique while it lives.
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Entry<'a>>(self.entry()) as usize,
        ))
    }
}

impl<'a> Object<'a, InPlace> for DocObject<'a> {
    type Node = DocNode<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, (key, bit): &(Box<str>, u64)) -> Option<DocNode<'a>> {
        self.find(key, *bit)
    }

    fn members(&self) -> Members<'a> {
        Members {
            entries: self.entries,
            next: self.at + 1,
            end: self.end,
        }
    }
}

impl<'a> Array<'a, InPlace> for DocArray<'a> {
    type Node = DocNode<'a>;
    type ElementsIter = Elements<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn elements(&self) -> Elements<'a> {
        Elements {
            entries: self.entries,
            next: self.at + 1,
            end: self.end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A batch as logiscout sends it, with what the wire format allows besides.
    fn batch() -> Value {
        let log = |i: u64| {
            json!({
                "timestamp": "2026-12-02T06:36:34.984331Z",
                "level": "info",
                "message": format!("Order {i} created \"okay\"\n\tnext line é 🦀"),
                "loggerName": "app::orders",
                "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                "spanId": "00f067aa0ba902b7",
                "metadata": { "user_id": i, "ratio": 0.25, "neg": -3, "big": u64::MAX, "tiny": 1e-7,
                              "nested": { "list": [1, "two", null, true, false, [], {}] } },
                "exception": if i == 1 { json!({ "traceback": "Traceback:\n  line 1" }) } else { Value::Null }
            })
        };
        json!({
            "payloads": [
                {
                    "correlationId": "ac92aa6c-5d9f-4b7a-899f-9a5b194e46e7",
                    "startedAt": "2026-12-02T06:36:34.984329Z",
                    "endedAt": "2026-12-02T06:36:34.984338+01:00",
                    "durationMS": 0.008204,
                    "request": { "method": "GET", "path": "/orders", "statusCode": 200 },
                    "logs": [log(0), log(1)]
                },
                {
                    "correlationId": "job-7",
                    "startedAt": "2026-12-02T06:36:34.1Z",
                    "endedAt": null,
                    "durationMS": null,
                    "logs": [log(2)]
                }
            ],
            "batch_metadata": {
                "batch_id": "5f90f793-1208-4f55-bf33-b6fc45f4a6bf",
                "service_name": "profile",
                "environment": "production",
                "sdk": "logiscout-rust/0.1.0",
                "total_requests": 2,
                "total_logs": 3,
                "dropped_logs": 0,
                "flushed_at": "2026-12-02T06:36:34.984476Z"
            }
        })
    }

    /// What [`Doc::parse`] must hold to: when it reads a body, serde_json reads the same `Value`.
    fn agrees(body: &[u8]) -> bool {
        let Some(doc) = Doc::parse(body) else {
            return false;
        };
        let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "parsed in place, refused by serde_json ({e}): {}",
                String::from_utf8_lossy(body)
            )
        });
        let parsed = doc.root().value();
        assert_eq!(parsed, value, "{}", String::from_utf8_lossy(body));
        assert_eq!(parsed.to_string(), value.to_string());
        true
    }

    #[test]
    fn bodies_are_read_as_serde_json_reads_them() {
        let compact = batch().to_string();
        let pretty = serde_json::to_string_pretty(&batch()).unwrap();
        assert!(agrees(compact.as_bytes()));
        assert!(agrees(pretty.as_bytes()));
        assert!(agrees(format!(" \t\r\n{compact}\n ").as_bytes()));
        // Read in place (one body a line): scalars, escapes, numbers of every form, containers.
        let read = r#"0
7
-0
-0.0
0.0
1.0
1e5
1E+5
-1.5e-3
2.5E-308
1e-400
18446744073709551615
18446744073709551616
1234567890123456789
12345678901234567890
-9223372036854775808
-9223372036854775809
0.1000000000000000055511151231257827
123456789012345678901234567890.5
true
false
null
""
[]
{}
[[[[]]]]
{"a":{"b":[{}]}}
"\" \\ \/ \b \f \n \r \t \u0000 \u001f \u00e9 \u20AC \uffff"
"\uD83E\uDD80 \ud83e\udd80"
{"a":1,"b":2,"ab":3,"ba":4,"":5}
[1 , 2 ,	3]
{ "a" : 1 }
"é🦀""#;
        for body in read.lines() {
            assert!(agrees(body.as_bytes()), "{body}");
        }
        // Refused by serde_json, so not read here either, one body a line.
        let refused = r#"nope
tru
nul
[
]
{
[1,]
[,1]
{"a":1,}
{"a" 1}
{1:2}
{"a":1}}
[1][2]
01
1.
.5
-
+1
1e
1e400
--1
0x1
"unterminated
"tab	in"
"\x"
"\u12"
"\uDD80"
"\uD83E"
NaN
Infinity
[1 2]
{"a":tru}"#;
        let not_utf8: [&[u8]; 4] = [b"\xff", b"\"\xff\"", b"[\"\xc3\"]", b"{\"\xe9\":1}"];
        let refused = refused
            .lines()
            .map(str::as_bytes)
            .chain(not_utf8)
            .chain([&b""[..], b" "]);
        for body in refused {
            let shown = String::from_utf8_lossy(body);
            assert!(Doc::parse(body).is_none(), "{shown}");
            assert!(serde_json::from_slice::<Value>(body).is_err(), "{shown}");
        }
        // Accepted by serde_json, left to it: an object repeating a key (a `Value` keeps the last).
        let wide: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(agrees(format!("{{{}}}", wide.join(",")).as_bytes()));
        let repeated = format!("{{{},\"k7\":0}}", wide.join(","));
        for body in [
            r#"{"a":1,"a":2}"#,
            r#"{"k":{"x":1,"y":2,"x":3}}"#,
            r#"[{"a\u0062":1,"ab":2}]"#,
            &repeated,
        ] {
            assert!(Doc::parse(body.as_bytes()).is_none(), "{body}");
            assert!(serde_json::from_str::<Value>(body).is_ok(), "{body}");
        }
        // Nesting: serde_json's recursion limit, for the `Value` and in place alike.
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(agrees(nested(127).as_bytes()));
        assert!(Doc::parse(nested(128).as_bytes()).is_none());
        assert!(serde_json::from_str::<Value>(&nested(128)).is_err());
    }

    #[test]
    fn strings_borrow_from_the_body_unless_they_hold_escapes() {
        let body = r#"{"plain":"text é","esc\u0061ped":"a\nb","":""}"#.as_bytes();
        let doc = Doc::parse(body).unwrap();
        let strings: Vec<(bool, &str)> = doc
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::String(s) => Some((matches!(s, Cow::Borrowed(_)), &**s)),
                _ => None,
            })
            .collect();
        assert_eq!(
            strings,
            [
                (true, "plain"),
                (true, "text é"),
                (false, "escaped"),
                (false, "a\nb"),
                (true, ""),
                (true, ""),
            ]
        );
    }

    #[test]
    fn the_representation_holds_to_jsonschemas_contract() {
        let text = jsonschema::json::conformance::document().to_string();
        let doc = Doc::parse(text.as_bytes()).unwrap();
        jsonschema::json::conformance::assert_conformance::<InPlace>(&doc.root());
    }

    #[test]
    fn mangled_bodies_are_never_read_otherwise_than_by_serde_json() {
        let seeds = [
            batch().to_string(),
            serde_json::to_string_pretty(&batch()["payloads"][0]["logs"][0]).unwrap(),
            r#"{"a":[-1.5e3,0,"\u00e9\n",true,null,{"b":{}}],"c":18446744073709551615}"#.to_owned(),
        ];
        let pieces: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\"",
            b"\\",
            b"-",
            b"+",
            b".",
            b"e",
            b"E",
            b"0",
            b"1",
            b"9",
            b" ",
            b"\n",
            b"\t",
            b"t",
            b"n",
            b"u",
            b"a",
            b"\x00",
            b"\x1f",
            b"\xc3\xa9",
            b"\\u",
            b"\\ud83e",
            b"true",
            b"null",
            b"1e999",
            b"00",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let (mut read, mut total) = (0, 0);
        for seed in &seeds {
            for _ in 0..4000 {
                let mut body = seed.clone().into_bytes();
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(..=body.len());
                    let piece = pieces[rng.usize(..pieces.len())];
                    match rng.u8(..3) {
                        0 if at < body.len() => {
                            body.remove(at);
                        }
                        1 if at < body.len() => {
                            body[at] = piece[0];
                        }
                        _ => {
                            body.splice(at..at, piece.iter().copied());
                        }
                    }
                }
                total += 1;
                if agrees(&body) {
                    read += 1;
                }
            }
        }
        // Many mangled bodies are still JSON, and read in place.
        assert!(read > total / 20, "{read} of {total}");
    }

    /// Every node of `value` replaced by each of `replacements`, and every member removed.
    fn variants(value: &Value, replacements: &[Value], out: &mut Vec<Value>) {
        fn walk(
            root: &Value,
            path: &mut Vec<Result<usize, String>>,
            replacements: &[Value],
            out: &mut Vec<Value>,
        ) {
            let node = path.iter().fold(root, |node, step| match step {
                Ok(i) => &node[*i],
                Err(k) => &node[k.as_str()],
            });
            for replacement in replacements {
                let mut copy = root.clone();
                *follow(&mut copy, path) = replacement.clone();
                out.push(copy);
            }
            match node {
                Value::Array(items) => {
                    for i in 0..items.len() {
                        path.push(Ok(i));
                        walk(root, path, replacements, out);
                        path.pop();
                    }
                }
                Value::Object(members) => {
                    for key in members.keys() {
                        let mut copy = root.clone();
                        if let Value::Object(m) = follow(&mut copy, path) {
                            m.remove(key);
                        }
                        out.push(copy);
                        path.push(Err(key.clone()));
                        walk(root, path, replacements, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        fn follow<'v>(node: &'v mut Value, path: &[Result<usize, String>]) -> &'v mut Value {
            match path.split_first() {
                None => node,
                Some((Ok(i), rest)) => follow(&mut node[*i], rest),
                Some((Err(k), rest)) => follow(&mut node[k.as_str()], rest),
            }
        }
        walk(value, &mut Vec::new(), replacements, out);
    }

    #[test]
    fn the_schema_says_the_same_of_a_body_parsed_in_place() {
        let validator = crate::compile_schema().unwrap();
        let in_place = crate::compile_in_place_schema().unwrap();
        let replacements = [
            Value::Null,
            json!(true),
            json!(0),
            json!(-1),
            json!(1.0),
            json!(1.5),
            json!(99),
            json!(100),
            json!(599),
            json!(600),
            json!(""),
            json!("x"),
            json!("x".repeat(129)),
            json!("é".repeat(128)),
            json!("2026-12-02T06:36:34Z"),
            json!("2026-12-02 06:36:34Z"),
            json!("00000000000000000000000000000000"),
            json!("debug"),
            json!("/a?b"),
            json!([]),
            json!([1]),
            json!({}),
            json!({ "send": 1 }),
            json!({ "traceback": 1 }),
        ];
        let mut bodies = vec![batch()];
        variants(&batch(), &replacements, &mut bodies);
        for extra in [
            ("/payloads/0/logs/0/metadata", "correlation_id", json!("x")),
            (
                "/payloads/0/logs/0",
                "traceId",
                json!("4bf92f3577b34da6a3ce929d0e0e4736"),
            ),
            ("/payloads/0", "unknown", json!(1)),
            ("", "more", json!([])),
        ] {
            let mut body = batch();
            body.pointer_mut(extra.0).unwrap()[extra.1] = extra.2;
            bodies.push(body);
        }
        let (mut valid, mut invalid) = (0, 0);
        for body in &bodies {
            let text = body.to_string();
            let doc =
                Doc::parse(text.as_bytes()).expect("serde_json's own output is read in place");
            // The same entries as the `Value` path's view (serde_json writes keys in its map's order).
            assert_eq!(doc.entries, Doc::from_value(body).entries, "{text}");
            let verdict = validator.is_valid(body);
            assert_eq!(in_place.is_valid(doc.root()), verdict, "{text}");
            if verdict {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 100 && invalid > 1000,
            "{valid} valid, {invalid} invalid"
        );
    }
}
