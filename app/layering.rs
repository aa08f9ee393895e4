//! The layering rule of the controllers, checked: storage (`queries`) and live pushes (`fanout`)
//! are reached only through a service, so every write has one owner and every push one way out.
//! The test reads the controllers' source and fails on a mention of either outside comments
//! (it lives outside `app/controllers/` so that its own words are not read as a breach).

use std::path::{Path, PathBuf};

/// The words no controller may use.
const FORBIDDEN: [&str; 2] = ["queries", "fanout"];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the controllers' folder is readable") {
        let path = entry.expect("a readable entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The code of a line, without its comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

/// Whether `word` stands in `code` as a name of its own (not inside a longer one).
fn names(code: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

/// Every `file:line: text` of the controllers that names a forbidden module.
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (number, line) in text.lines().enumerate() {
            if FORBIDDEN.iter().any(|word| names(code(line), word)) {
                found.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn controllers_reach_storage_and_pushes_only_through_services() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("app/controllers");
    let found = violations(&root);
    assert!(
        found.is_empty(),
        "controllers must call a service, not `queries` or `fanout`:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_use_and_passes_over_comments_and_longer_names() {
    assert!(names(code("use crate::app::queries;"), "queries"));
    assert!(names(code("        queries::users::find(conn)"), "queries"));
    assert!(names(code("services::{fanout, sessions},"), "fanout"));
    assert!(!names(code("// the queries run in a service"), "queries"));
    assert!(!names(code("let my_queries = 1;"), "queries"));
    assert!(!names(code("fanout_count += 1;"), "fanout"));
}
