//! The generated-section markers in `docs/benchmarks.md`, and replacing what lies between them.

/// The opening marker of a generated section.
pub fn open_marker(name: &str) -> String {
    format!("<!-- generated:{name} -->")
}

/// The closing marker of a generated section.
pub fn close_marker(name: &str) -> String {
    format!("<!-- /generated:{name} -->")
}

/// Replaces the text between each section's markers with the section (surrounded by blank lines).
/// Every section needs exactly one opening marker followed by one closing marker; otherwise the error
/// lists every section whose markers are missing or malformed, and nothing is replaced.
pub fn replace_sections(doc: &str, sections: &[(&str, String)]) -> Result<String, String> {
    let mut problems = Vec::new();
    let mut spans = Vec::new();
    for (name, body) in sections {
        let (open, close) = (open_marker(name), close_marker(name));
        let opens: Vec<usize> = doc.match_indices(&open).map(|(i, _)| i).collect();
        let closes: Vec<usize> = doc.match_indices(&close).map(|(i, _)| i).collect();
        match (opens.as_slice(), closes.as_slice()) {
            ([], []) => problems.push(format!("{open} … {close} (both missing)")),
            ([], _) => problems.push(format!("{open} (missing)")),
            (_, []) => problems.push(format!("{close} (missing)")),
            ([o], [c]) if o + open.len() <= *c => spans.push((o + open.len(), *c, body)),
            ([_], [_]) => problems.push(format!("{close} comes before {open}")),
            _ => problems.push(format!("{open} / {close} appear more than once")),
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "generated-section markers missing or malformed:\n  {}",
            problems.join("\n  ")
        ));
    }
    spans.sort_by_key(|s| s.0);
    if spans.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err("generated sections overlap or are nested".into());
    }
    let mut out = String::with_capacity(doc.len() + 4096);
    let mut pos = 0;
    for (start, end, body) in spans {
        out.push_str(&doc[pos..start]);
        out.push_str("\n\n");
        out.push_str(body.trim_end());
        out.push_str("\n\n");
        pos = end;
    }
    out.push_str(&doc[pos..]);
    Ok(out)
}
