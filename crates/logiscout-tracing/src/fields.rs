//! Fields of events and spans, kept with their types until they become a record's key-values.

use std::fmt;

use log::kv::{self, Key, Source, ToValue, Value, VisitSource};
use tracing_core::field::{Field, Visit};

/// A field's value, owned (span fields outlive the call that recorded them).
#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
    Str(String),
    Error(ChainError),
}

/// An error and its `source()` chain, copied at the moment it was recorded.
#[derive(Debug, Clone)]
pub(crate) struct ChainError {
    message: String,
    source: Option<Box<ChainError>>,
}

impl ChainError {
    fn copy(err: &(dyn std::error::Error + 'static), depth: usize) -> Self {
        ChainError {
            message: err.to_string(),
            source: match err.source() {
                // Bounded, in case of a cyclic chain.
                Some(s) if depth < 64 => Some(Box::new(ChainError::copy(s, depth + 1))),
                _ => None,
            },
        }
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ChainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Fields by name, in the order they were first recorded; a name recorded again keeps its place and
/// takes the new value.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldSet {
    fields: Vec<(&'static str, FieldValue)>,
}

impl FieldSet {
    fn set(&mut self, name: &'static str, value: FieldValue) {
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Adds `other`'s fields, its values winning.
    pub(crate) fn merge(&mut self, other: &FieldSet) {
        for (name, value) in &other.fields {
            self.set(name, value.clone());
        }
    }

    /// Removes and returns the `message` field as text.
    pub(crate) fn take_message(&mut self) -> Option<String> {
        let at = self.fields.iter().position(|(n, _)| *n == "message")?;
        match self.fields.remove(at).1 {
            FieldValue::Str(s) => Some(s),
            other => Some(format!("{}", Shown(&other))),
        }
    }

    /// Removes a bool field and returns its value.
    pub(crate) fn take_bool(&mut self, name: &str) -> Option<bool> {
        let at = self.fields.iter().position(|(n, _)| *n == name)?;
        match self.fields[at].1 {
            FieldValue::Bool(b) => {
                self.fields.remove(at);
                Some(b)
            }
            _ => None,
        }
    }

    /// The fields as `log` key-values.
    pub(crate) fn as_source(&self) -> impl Source + '_ {
        Kvs(&self.fields)
    }
}

struct Kvs<'a>(&'a [(&'static str, FieldValue)]);

impl Source for Kvs<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        for (name, value) in self.0 {
            visitor.visit_pair(Key::from_str(name), value.to_value())?;
        }
        Ok(())
    }
}

impl ToValue for FieldValue {
    fn to_value(&self) -> Value<'_> {
        match self {
            FieldValue::U64(v) => Value::from(*v),
            FieldValue::I64(v) => Value::from(*v),
            FieldValue::U128(v) => Value::from(*v),
            FieldValue::I128(v) => Value::from(*v),
            FieldValue::F64(v) => Value::from(*v),
            FieldValue::Bool(v) => Value::from(*v),
            FieldValue::Str(v) => Value::from(v.as_str()),
            FieldValue::Error(e) => Value::from_dyn_error(e),
        }
    }
}

struct Shown<'a>(&'a FieldValue);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FieldValue::U64(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::U128(v) => write!(f, "{v}"),
            FieldValue::I128(v) => write!(f, "{v}"),
            FieldValue::F64(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::Str(v) => f.write_str(v),
            FieldValue::Error(e) => write!(f, "{e}"),
        }
    }
}

/// Records tracing fields into a [`FieldSet`].
pub(crate) struct Fields<'a>(pub(crate) &'a mut FieldSet);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.set(field.name(), FieldValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.set(field.name(), FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.set(field.name(), FieldValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.0.set(field.name(), FieldValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.0.set(field.name(), FieldValue::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.set(field.name(), FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.set(field.name(), FieldValue::Str(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .set(field.name(), FieldValue::Error(ChainError::copy(value, 0)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `?x` and `%x` values, and the message (a `fmt::Arguments`): their text.
        self.0
            .set(field.name(), FieldValue::Str(format!("{value:?}")));
    }
}
