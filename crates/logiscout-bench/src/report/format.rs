//! Number and text formatting for the tables.

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float rounded to an integer with thousands separators (keeps the sign).
pub fn thousands_f(x: f64) -> String {
    let r = x.round();
    if r < 0.0 {
        format!("-{}", thousands((-r) as u64))
    } else {
        thousands(r as u64)
    }
}

/// Three significant digits: `1.80`, `53.6`, `412`, `1,234`.
pub fn sig3(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        thousands_f(x)
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A plain number: integers with thousands separators, others with three significant digits.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        thousands_f(x)
    } else {
        sig3(x)
    }
}

/// Nanoseconds: `0.79 ns`, `48.3 ns`, `1,234 ns`.
pub fn fmt_ns(ns: f64) -> String {
    format!("{} ns", sig3(ns))
}

/// A duration given in ns, in the unit that reads best: `489 ns`, `3,284 ns`, `11.1 ms`, `1.20 s`.
pub fn fmt_duration(ns: f64) -> String {
    let a = ns.abs();
    if a < 10_000.0 {
        fmt_ns(ns)
    } else if a < 1e6 {
        format!("{} µs", sig3(ns / 1e3))
    } else if a < 1e9 {
        format!("{} ms", sig3(ns / 1e6))
    } else {
        format!("{} s", sig3(ns / 1e9))
    }
}

/// A count with SI prefix: `1.80 M`, `53.6 k`, `412`.
pub fn fmt_si(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{} G", sig3(x / 1e9))
    } else if a >= 1e6 {
        format!("{} M", sig3(x / 1e6))
    } else if a >= 1e3 {
        format!("{} k", sig3(x / 1e3))
    } else {
        sig3(x)
    }
}

/// A rate: `1.80 M/s`, `53.6 k/s`, `412/s`.
pub fn fmt_rate(per_s: f64) -> String {
    let s = fmt_si(per_s);
    if s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{s}/s")
    } else {
        format!("{s} /s")
    }
}

/// A ratio: `×0.42`, `×1.80`, `×12.5`, `×1,234`.
pub fn fmt_ratio(r: f64) -> String {
    if r.abs() >= 100.0 {
        format!("×{}", thousands_f(r))
    } else if r.abs() >= 10.0 {
        format!("×{r:.1}")
    } else {
        format!("×{r:.2}")
    }
}

/// A percentage with one decimal: `6.2 %`, `-1.3 %`.
pub fn fmt_pct(p: f64) -> String {
    format!("{p:.1} %")
}

/// Bytes in binary units: `195 B`, `12.0 KiB`, `64.0 MiB`, `23.5 GiB`; keeps the sign.
pub fn fmt_bytes(b: f64) -> String {
    let a = b.abs();
    const K: f64 = 1024.0;
    if a < K {
        format!("{} B", thousands_f(b))
    } else if a < K * K {
        format!("{} KiB", sig3(b / K))
    } else if a < K * K * K {
        format!("{} MiB", sig3(b / (K * K)))
    } else {
        format!("{} GiB", sig3(b / (K * K * K)))
    }
}

/// Median of a list (NaN-free input assumed); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub(super) fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}
