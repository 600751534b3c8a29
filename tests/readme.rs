//! What the README and the manifests promise a newcomer, checked as text: the Quick start runs in Dev as
//! written (Prod only through `LOGISCOUT_*`), the README is the crate root's docs (so its snippets are
//! doctests), and docs.rs builds every published crate with all its features.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first ```` ```rust ```` block after the `## Quick start` heading.
fn quick_start(readme: &str) -> String {
    let (_, after) = readme
        .split_once("\n## Quick start\n")
        .expect("README.md has a `## Quick start` section");
    let section = after.split("\n## ").next().unwrap();
    let (_, block) = section
        .split_once("```rust\n")
        .expect("the Quick start has a ```rust block");
    let (code, _) = block.split_once("\n```").expect("the block is closed");
    code.to_owned()
}

/// `line` without its `//` comment (a `//` inside a string literal is not one).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `block` with its `//` comments removed (doctest-hidden `# ` lines are code and stay).
fn code_outside_comments(block: &str) -> String {
    block
        .lines()
        .map(strip_comment)
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_dev_by_default(code: &str) {
    for banned in ["Env::Prod", "example.com"] {
        assert!(
            !code.contains(banned),
            "the Quick start's code (comments aside) contains `{banned}`: it must run in Dev as \
             written, Prod coming from LOGISCOUT_* through Config::from_env()\n{code}"
        );
    }
    assert!(
        code.contains("Config::from_env()"),
        "the Quick start reads its configuration with `Config::from_env()`\n{code}"
    );
}

#[test]
fn the_quick_start_is_dev_by_default_and_reads_prod_from_the_environment() {
    let block = quick_start(&read(&root().join("README.md")));
    let code = code_outside_comments(&block);
    assert_dev_by_default(&code);
    // The Prod shape is still shown, in a comment.
    assert!(block.contains("LOGISCOUT_API_TOKEN"), "{block}");
}

#[test]
fn the_check_sees_prod_code_and_ignores_it_in_comments() {
    let commented =
        "let c = Config::from_env()?; // or .env(Env::Prod) at https://ingest.example.com\n\
                     // Config::new(\"x\").env(Env::Prod)";
    assert_dev_by_default(&code_outside_comments(commented));
    let prod = "let c = Config::from_env()?.env(Env::Prod); // Dev is the default";
    let caught = std::panic::catch_unwind(|| assert_dev_by_default(&code_outside_comments(prod)));
    assert!(caught.is_err(), "`Env::Prod` in code must be caught");
    let url = "let c = Config::from_env()?.endpoint(\"https://a//example.com\");";
    assert!(
        std::panic::catch_unwind(|| assert_dev_by_default(&code_outside_comments(url))).is_err()
    );
}

#[test]
fn the_crate_root_docs_are_the_readme() {
    let lib = read(&root().join("src/lib.rs"));
    assert!(
        lib.lines()
            .any(|l| l.trim() == r#"#![doc = include_str!("../README.md")]"#),
        "src/lib.rs embeds the README as the crate docs (so its snippets are doctested)"
    );
    let manifest = read(&root().join("Cargo.toml"));
    let readme = section(&manifest, "package")
        .iter()
        .any(|l| l.replace(' ', "") == r#"readme="README.md""#);
    assert!(readme, "Cargo.toml's [package] names README.md");
}

/// The lines of `[name]` in a manifest (up to the next table header).
fn section<'a>(manifest: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    manifest
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn is_published(manifest: &str) -> bool {
    !section(manifest, "package")
        .iter()
        .any(|l| l.replace(' ', "") == "publish=false")
}

fn has_features(manifest: &str) -> bool {
    !section(manifest, "features").is_empty()
}

fn docs_rs_all_features(manifest: &str) -> bool {
    section(manifest, "package.metadata.docs.rs")
        .iter()
        .any(|l| l.replace(' ', "") == "all-features=true")
}

#[test]
fn published_crates_with_features_build_on_docs_rs_with_all_of_them() {
    let mut manifests = vec![root().join("Cargo.toml")];
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let path = entry.unwrap().path().join("Cargo.toml");
        if path.exists() {
            manifests.push(path);
        }
    }
    let mut checked = Vec::new();
    for path in &manifests {
        let manifest = read(path);
        if is_published(&manifest) && has_features(&manifest) {
            assert!(
                docs_rs_all_features(&manifest),
                "{}: a published crate with features needs \
                 `[package.metadata.docs.rs]` `all-features = true`",
                path.display()
            );
            checked.push(path.clone());
        }
    }
    // The root and the integrations' crates at least: a parse that finds none would check nothing.
    assert!(checked.len() >= 3, "checked only {checked:?}");
}

#[test]
fn the_manifest_reader_sees_a_missing_docs_rs_table() {
    let with = "[package]\nname = \"a\"\n\n[features]\nx = []\n\n[package.metadata.docs.rs]\nall-features = true\n";
    assert!(is_published(with) && has_features(with) && docs_rs_all_features(with));
    let without =
        "[package]\nname = \"a\"\n\n[features]\nx = []\n\n[dependencies]\nall-features = true\n";
    assert!(!docs_rs_all_features(without));
    let private = "[package]\nname = \"a\"\npublish = false\n";
    assert!(!is_published(private) && !has_features(private));
}
