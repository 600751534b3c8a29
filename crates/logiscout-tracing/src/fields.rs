//! Fields of events and spans, kept with their types until they become a record's key-values.
//!
//! [`Fields`] is the encoded form: one entry per name (its type and value; text and error chains in
//! arenas the entries point into), built by visiting tracing's values once. An event's fields go into a
//! per-thread `Fields` that is cleared, not freed, between events; a span's are stored once, when the
//! span is created or recorded, in its extensions behind an `Arc`. An event then hands both to the core
//! as one `log::kv::Source` ([`Merged`]) that borrows from them: no `String` is built per event.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use log::kv::{self, Key, Source, Value, VisitSource};
use tracing_core::field::{Field, Visit};

/// A field's value; text and errors live in the owning [`Fields`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val {
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
    /// `text[start..end]`.
    Str(usize, usize),
    /// `errors[n]`.
    Error(usize),
}

/// An error and its `source()` chain, copied at the moment it was recorded. Its nodes are reused: an
/// event's errors are written into the nodes the previous events left (see [`Fields::clear`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainError {
    message: String,
    /// Kept (with its text's room) when a shorter chain is written over a longer one: `has_source` says
    /// whether it is part of this chain.
    source: Option<Box<ChainError>>,
    has_source: bool,
}

/// How deep a `source()` chain is copied (a cyclic chain would never end).
const MAX_CHAIN: usize = 64;

impl ChainError {
    /// Writes `err` and its chain over this node and the ones after it.
    fn fill(&mut self, err: &(dyn std::error::Error + 'static)) {
        let mut node = self;
        let mut err = err;
        let mut depth = 0;
        loop {
            node.message.clear();
            // An `Err` from the error's `Display` just ends its text early.
            let _ = write!(node.message, "{err}");
            match err.source() {
                Some(source) if depth < MAX_CHAIN => {
                    node.has_source = true;
                    node = node.source.get_or_insert_with(Box::default);
                    err = source;
                    depth += 1;
                }
                _ => {
                    node.has_source = false;
                    return;
                }
            }
        }
    }

    /// The bytes this node and the nodes after it hold (live or not).
    fn held(&self) -> usize {
        let mut held = 0;
        let mut node = Some(self);
        while let Some(n) = node {
            held += n.message.capacity() + std::mem::size_of::<ChainError>();
            node = n.source.as_deref();
        }
        held
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if !self.has_source {
            return None;
        }
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Fields by name, in the order they were first recorded; a name recorded again keeps its place and
/// takes the new value.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields {
    entries: Vec<(&'static str, Val)>,
    /// One bit per name in `entries` (see [`bit`]): a name whose bit is clear is not there, so most
    /// look-ups, and the check that an event's names and its spans' do not overlap, compare no strings.
    mask: u64,
    /// An event's `message` field, kept out of `entries` (it is the record's message, not a key-value).
    message: Option<Val>,
    text: String,
    /// Only the first `live_errors` are this set's; the others are room for the next ones.
    errors: Vec<ChainError>,
    live_errors: usize,
}

/// A name's bit in [`Fields::mask`].
fn bit(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let first = bytes.first().copied().unwrap_or_default() as u32;
    let last = bytes.last().copied().unwrap_or_default() as u32;
    let h = (bytes.len() as u32).wrapping_mul(31) ^ first.wrapping_mul(7) ^ last;
    1 << (h % 64)
}

/// What a per-thread [`Fields`] may keep between events; past it, its room is given back (one event
/// with a huge value does not hold that memory for the thread's life).
const KEEP_BYTES: usize = 16 * 1024;
const KEEP_ENTRIES: usize = 256;

impl Fields {
    pub(crate) const fn new() -> Fields {
        Fields {
            entries: Vec::new(),
            mask: 0,
            message: None,
            text: String::new(),
            errors: Vec::new(),
            live_errors: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Empties the set, keeping its room (and its error nodes) for the next event, unless it grew past
    /// [`KEEP_BYTES`].
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.mask = 0;
        self.message = None;
        self.text.clear();
        self.live_errors = 0;
        if self.entries.capacity() > KEEP_ENTRIES {
            self.entries = Vec::new();
        }
        if self.text.capacity() > KEEP_BYTES {
            self.text = String::new();
        }
        if self.errors.iter().map(ChainError::held).sum::<usize>() > KEEP_BYTES {
            self.errors = Vec::new();
        }
    }

    /// The value of `name`, if this set has it.
    pub(crate) fn get(&self, name: &str) -> Option<Val> {
        if self.mask & bit(name) == 0 {
            return None;
        }
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, value)| value)
    }

    fn set(&mut self, name: &'static str, value: Val) {
        let bit = bit(name);
        if self.mask & bit != 0 {
            if let Some(slot) = self.entries.iter_mut().find(|(n, _)| *n == name) {
                slot.1 = value;
                return;
            }
        }
        self.mask |= bit;
        self.entries.push((name, value));
    }

    fn str(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn error(&self, n: usize) -> Option<&ChainError> {
        self.errors.get(n).filter(|_| n < self.live_errors)
    }

    /// `value` as a `log` value borrowing from this set.
    pub(crate) fn value(&self, value: Val) -> Value<'_> {
        match value {
            Val::U64(v) => Value::from(v),
            Val::I64(v) => Value::from(v),
            Val::U128(v) => Value::from(v),
            Val::I128(v) => Value::from(v),
            Val::F64(v) => Value::from(v),
            Val::Bool(v) => Value::from(v),
            Val::Str(start, end) => Value::from(self.str(start, end)),
            Val::Error(n) => match self.error(n) {
                Some(e) => Value::from_dyn_error(e),
                None => Value::null(),
            },
        }
    }

    /// `value` as text (a `message` field that is not a string).
    pub(crate) fn write_value(&self, value: Val, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match value {
            Val::U64(v) => write!(f, "{v}"),
            Val::I64(v) => write!(f, "{v}"),
            Val::U128(v) => write!(f, "{v}"),
            Val::I128(v) => write!(f, "{v}"),
            Val::F64(v) => write!(f, "{v}"),
            Val::Bool(v) => write!(f, "{v}"),
            Val::Str(start, end) => f.write_str(self.str(start, end)),
            Val::Error(n) => match self.error(n) {
                Some(e) => write!(f, "{e}"),
                None => Ok(()),
            },
        }
    }

    /// Copies `value` (from `from`) into this set's arenas.
    fn adopt(&mut self, from: &Fields, value: Val) -> Val {
        match value {
            Val::Str(start, end) => self.push_str(from.str(start, end)),
            Val::Error(n) => match from.error(n) {
                Some(e) => {
                    self.errors.truncate(self.live_errors);
                    self.errors.push(e.clone());
                    self.live_errors += 1;
                    Val::Error(self.live_errors - 1)
                }
                // Not made by `Fields` (its errors are live): an empty value rather than a panic.
                None => self.push_str(""),
            },
            other => other,
        }
    }

    fn push_str(&mut self, s: &str) -> Val {
        let start = self.text.len();
        self.text.push_str(s);
        Val::Str(start, self.text.len())
    }

    /// This set with `update`'s fields recorded over it, compacted (for `Span::record`: what a value
    /// recorded again replaced is not kept).
    pub(crate) fn updated(&self, update: &Fields) -> Fields {
        let mut out = Fields {
            entries: Vec::with_capacity(self.entries.len() + update.entries.len()),
            text: String::with_capacity(self.text.len() + update.text.len()),
            ..Fields::new()
        };
        for &(name, value) in &self.entries {
            let value = match update.get(name) {
                Some(new) => out.adopt(update, new),
                None => out.adopt(self, value),
            };
            out.set(name, value);
        }
        for &(name, value) in &update.entries {
            if self.get(name).is_none() {
                let value = out.adopt(update, value);
                out.set(name, value);
            }
        }
        out
    }

    fn record_error(&mut self, err: &(dyn std::error::Error + 'static)) -> Val {
        let at = self.live_errors;
        if self.errors.len() <= at {
            self.errors.push(ChainError::default());
        }
        self.errors[at].fill(err);
        self.live_errors = at + 1;
        Val::Error(at)
    }
}

/// Records tracing fields into a [`Fields`].
pub(crate) struct Recorder<'a> {
    fields: &'a mut Fields,
    /// An event's: its `message` field is its message.
    event: bool,
}

impl<'a> Recorder<'a> {
    /// For an event's fields.
    pub(crate) fn event(fields: &'a mut Fields) -> Self {
        Recorder {
            fields,
            event: true,
        }
    }

    /// For a span's fields (`message` is a field like the others).
    pub(crate) fn span(fields: &'a mut Fields) -> Self {
        Recorder {
            fields,
            event: false,
        }
    }

    fn put(&mut self, field: &Field, value: Val) {
        let name = field.name();
        if self.event && name == MESSAGE {
            self.fields.message = Some(value);
        } else {
            self.fields.set(name, value);
        }
    }
}

impl Visit for Recorder<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Val::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Val::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Val::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, Val::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, Val::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Val::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = self.fields.push_str(value);
        self.put(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let value = self.fields.record_error(value);
        self.put(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `?x` and `%x` values, and the message (a `fmt::Arguments`): their text. An `Err` from the
        // value's `Debug` just ends its text early (`format!` would panic).
        let start = self.fields.text.len();
        let _ = write!(self.fields.text, "{value:?}");
        let end = self.fields.text.len();
        self.put(field, Val::Str(start, end));
    }
}

/// The event's `message` field.
const MESSAGE: &str = "message";
/// On an ERROR event (or its spans), `critical = true` makes it `critical`.
pub(crate) const CRITICAL: &str = "critical";

/// An event's key-values: the fields of its spans, root to leaf, then its own (less its message),
/// each name once, where it first appears, with the value of the last (innermost) one that has it. The
/// core visits it like any record's key-values; nothing is copied for it.
pub(crate) struct Merged<'a> {
    /// Root to leaf.
    pub(crate) spans: &'a [Arc<Fields>],
    pub(crate) event: &'a Fields,
    /// `critical` was taken as the level: it is not a key-value.
    pub(crate) skip_critical: bool,
}

impl<'a> Merged<'a> {
    /// Root to leaf, then the event.
    fn levels(&self) -> impl DoubleEndedIterator<Item = &'a Fields> + Clone {
        let spans: &'a [Arc<Fields>] = self.spans;
        spans
            .iter()
            .map(|s| &**s)
            .chain(std::iter::once(self.event))
    }

    /// The value `name` ends up with: its innermost one.
    pub(crate) fn last(&self, name: &str) -> Option<Val> {
        self.levels().rev().find_map(|f| f.get(name))
    }

    /// Whether two levels may have a name in common (no false negatives).
    fn may_overlap(&self) -> bool {
        let mut seen = 0;
        for fields in self.levels() {
            if seen & fields.mask != 0 {
                return true;
            }
            seen |= fields.mask;
        }
        false
    }
}

impl Source for Merged<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        let skip = |name: &str| self.skip_critical && name == CRITICAL;
        if !self.may_overlap() {
            // The common case: each name in one level only.
            for fields in self.levels() {
                for &(name, value) in &fields.entries {
                    if !skip(name) {
                        visitor.visit_pair(Key::from_str(name), fields.value(value))?;
                    }
                }
            }
            return Ok(());
        }
        let count = self.spans.len() + 1;
        let level = |n: usize| -> &'kvs Fields { self.spans.get(n).map_or(self.event, |s| &**s) };
        for n in 0..count {
            let fields = level(n);
            for &(name, value) in &fields.entries {
                // Emitted where it first appears, with its innermost value.
                if skip(name) || (0..n).any(|outer| level(outer).get(name).is_some()) {
                    continue;
                }
                let (from, value) = (n + 1..count)
                    .rev()
                    .find_map(|inner| level(inner).get(name).map(|v| (level(inner), v)))
                    .unwrap_or((fields, value));
                visitor.visit_pair(Key::from_str(name), from.value(value))?;
            }
        }
        Ok(())
    }
}

/// The event's message (its `message` field), or nothing.
pub(crate) struct Message<'a>(pub(crate) &'a Fields);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.message {
            Some(value) => self.0.write_value(value, f),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    fn chain(e: &ChainError) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = std::error::Error::source(e);
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }

    #[test]
    fn error_nodes_are_reused_and_a_shorter_chain_ends_where_it_ends() {
        let long = E("a", Some(Box::new(E("b", Some(Box::new(E("c", None)))))));
        let short = E("x", None);
        let mut node = ChainError::default();
        node.fill(&long);
        assert_eq!(chain(&node), ["a", "b", "c"]);
        node.fill(&short);
        assert_eq!(chain(&node), ["x"]);
        node.fill(&long);
        assert_eq!(chain(&node), ["a", "b", "c"]);
    }

    #[test]
    fn updated_compacts_and_keeps_first_places() {
        let mut a = Fields::new();
        let t1 = a.push_str("one");
        a.set("s", t1);
        a.set("n", Val::U64(1));
        let mut b = Fields::new();
        let t2 = b.push_str("two");
        b.set("s", t2);
        b.set("m", Val::Bool(true));
        let c = a.updated(&b);
        assert_eq!(c.mask, bit("s") | bit("n") | bit("m"));
        let names: Vec<&str> = c.entries.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["s", "n", "m"]);
        assert_eq!(c.text, "two");
        assert_eq!(c.value(c.get("s").unwrap()).to_borrowed_str(), Some("two"));
    }

    fn fields(pairs: &[(&'static str, u64)]) -> Fields {
        let mut f = Fields::new();
        for &(name, v) in pairs {
            f.set(name, Val::U64(v));
        }
        f
    }

    fn pairs(kvs: &Merged<'_>) -> Vec<(String, u64)> {
        struct Collect(Vec<(String, u64)>);
        impl<'kvs> VisitSource<'kvs> for Collect {
            fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
                self.0
                    .push((key.as_str().to_owned(), value.to_u64().unwrap()));
                Ok(())
            }
        }
        let mut out = Collect(Vec::new());
        kvs.visit(&mut out).unwrap();
        out.0
    }

    #[test]
    fn merged_names_appear_once_where_first_seen_with_the_innermost_value() {
        let spans = [
            Arc::new(fields(&[("a", 1), ("shared", 10), ("critical", 1)])),
            Arc::new(fields(&[("b", 2), ("shared", 20)])),
        ];
        let event = fields(&[("b", 3), ("x", 4)]);
        let kvs = Merged {
            spans: &spans,
            event: &event,
            skip_critical: false,
        };
        assert!(kvs.may_overlap());
        let expect = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        assert_eq!(
            pairs(&kvs),
            expect(&[
                ("a", 1),
                ("shared", 20),
                ("critical", 1),
                ("b", 3),
                ("x", 4)
            ])
        );
        let kvs = Merged {
            skip_critical: true,
            ..kvs
        };
        assert_eq!(
            pairs(&kvs),
            expect(&[("a", 1), ("shared", 20), ("b", 3), ("x", 4)])
        );
        // No name in two levels: the straight path, same order.
        let event = fields(&[("x", 4)]);
        let spans = [Arc::new(fields(&[("a", 1)])), Arc::new(fields(&[("b", 2)]))];
        let kvs = Merged {
            spans: &spans,
            event: &event,
            skip_critical: false,
        };
        assert!(!kvs.may_overlap());
        assert_eq!(pairs(&kvs), expect(&[("a", 1), ("b", 2), ("x", 4)]));
    }
}
