//! Bound loggers (`bind!`) and the `critical!` macro.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use log::kv::{self, Key, Source, ToValue, VisitSource};
use log::{Log, Metadata, Record};

use crate::encode::record::FieldValue;

/// A logger that adds fixed fields to every record logged through it, like the Python client's
/// `logger.bind(...)`. Made by [`bind!`](crate::bind); use it with `log`'s `logger:` argument.
///
/// Records go to the installed global logger; a key the record itself has wins over a bound one.
///
/// ```
/// let user_log = logiscout_core::bind!(user_id = 123, session_id = "abc");
/// log::info!(logger: user_log, action = "click"; "User action");
/// let admin_log = user_log.bind("role", "admin");
/// log::warn!(logger: admin_log, "Elevated action");
/// assert_eq!(admin_log.fields().len(), 3);
/// ```
#[derive(Clone, Debug, Default)]
pub struct BoundLogger {
    fields: Arc<[(Cow<'static, str>, FieldValue)]>,
}

impl BoundLogger {
    /// A bound logger with these fields (what [`bind!`](crate::bind) calls).
    pub fn new(fields: Vec<(Cow<'static, str>, FieldValue)>) -> Self {
        BoundLogger {
            fields: fields.into(),
        }
    }

    /// A new bound logger with one more field (replacing a field of the same key).
    pub fn bind(&self, key: impl Into<Cow<'static, str>>, value: impl Into<FieldValue>) -> Self {
        let key = key.into();
        let mut fields: Vec<_> = self
            .fields
            .iter()
            .filter(|(k, _)| *k != key)
            .cloned()
            .collect();
        fields.push((key, value.into()));
        BoundLogger::new(fields)
    }

    /// The bound fields.
    pub fn fields(&self) -> &[(Cow<'static, str>, FieldValue)] {
        &self.fields
    }
}

/// The record's own key-values, then the bound ones whose keys the record does not have.
struct WithBound<'a> {
    own: &'a dyn Source,
    bound: &'a [(Cow<'static, str>, FieldValue)],
}

impl Source for WithBound<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        self.own.visit(visitor)?;
        for (key, value) in self.bound {
            if self.own.get(Key::from_str(key)).is_none() {
                visitor.visit_pair(Key::from_str(key), value.to_value())?;
            }
        }
        Ok(())
    }
}

impl Log for BoundLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        log::logger().enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let kvs = WithBound {
            own: record.key_values(),
            bound: &self.fields,
        };
        log::logger().log(&record.to_builder().key_values(&kvs).build());
    }

    fn flush(&self) {
        log::logger().flush();
    }
}

/// Makes a [`BoundLogger`]: `bind!(key = value, ...)`, with `log`'s capture forms `key:? = v` (Debug),
/// `key:% = v` (Display), `key:serde = v` (nested JSON). Keys are identifiers or string literals.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Cart { items: u32 }
///
/// let log = logiscout_core::bind!(user_id = 123, "tenant.name" = "acme", cart:serde = Cart { items: 2 }, peer:? = (1, 2));
/// log::info!(logger: log, "Checkout started");
/// ```
#[macro_export]
macro_rules! bind {
    ($($key:tt $(:$capture:tt)? = $value:expr),+ $(,)?) => {
        $crate::BoundLogger::new(::std::vec![
            $((
                ::std::borrow::Cow::Borrowed($crate::__bind_key!($key)),
                $crate::__bind_value!($($capture)? $value),
            )),+
        ])
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bind_key {
    ($key:ident) => {
        ::std::stringify!($key)
    };
    ($key:literal) => {
        $key
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bind_value {
    (? $value:expr) => {
        $crate::FieldValue::Str(::std::format!("{:?}", $value))
    };
    (debug $value:expr) => {
        $crate::FieldValue::Str(::std::format!("{:?}", $value))
    };
    (% $value:expr) => {
        $crate::FieldValue::Str(::std::format!("{}", $value))
    };
    (display $value:expr) => {
        $crate::FieldValue::Str(::std::format!("{}", $value))
    };
    (serde $value:expr) => {
        $crate::FieldValue::from_serde(&$value)
    };
    ($value:expr) => {
        $crate::FieldValue::from_value(&$crate::__private::log::kv::ToValue::to_value(&$value))
    };
}

thread_local! {
    static CRITICAL: Cell<bool> = const { Cell::new(false) };
}

/// Marks the records logged on this thread while it lives as `critical` (used by `critical!`).
#[doc(hidden)]
#[derive(Debug)]
pub struct CriticalGuard(());

impl CriticalGuard {
    #[doc(hidden)]
    pub fn enter() -> Self {
        let _ = CRITICAL.try_with(|c| c.set(true));
        CriticalGuard(())
    }
}

impl Drop for CriticalGuard {
    fn drop(&mut self) {
        let _ = CRITICAL.try_with(|c| c.set(false));
    }
}

/// Reads and clears the critical mark, so records logged while formatting this one are not critical.
pub(crate) fn take_critical() -> bool {
    CRITICAL.try_with(|c| c.replace(false)).unwrap_or(false)
}

/// Logs at level `critical`: an error-level record marked critical (the Python client's
/// `logger.critical`). Takes everything `log::error!` takes.
///
/// ```
/// logiscout_core::critical!(order_id = "abc"; "Payment system down");
/// logiscout_core::critical!(target: "billing", "Ledger out of balance by {}", 3);
/// ```
#[macro_export]
macro_rules! critical {
    ($($arg:tt)+) => {{
        let _critical = $crate::__private::CriticalGuard::enter();
        $crate::__private::log::error!($($arg)+);
    }};
}
