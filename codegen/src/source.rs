//! Source files as read, and the mapping from a JSON pointer to a line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jsonc_parser::ast::Value as Ast;
use jsonc_parser::{CollectOptions, ParseOptions};

use crate::diagnostics::Position;

/// The text of every file a catalog was loaded from, keyed by path relative to the catalog root.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: BTreeMap<PathBuf, String>,
}

impl SourceMap {
    /// Records a file's text.
    pub(crate) fn insert(&mut self, path: PathBuf, text: String) {
        self.files.insert(path, text);
    }

    /// Takes over the files `other` read.
    pub(crate) fn extend(&mut self, other: SourceMap) {
        self.files.extend(other.files);
    }

    /// The text of a file, if it was read.
    pub fn text(&self, path: &Path) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Every file read, in path order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }

    /// Line and column of the value at `pointer` in `path`; the nearest existing ancestor when
    /// the pointer names something absent (a missing `title` points at the enclosing object).
    pub fn position(&self, path: &Path, pointer: &str) -> Option<Position> {
        let text = self.text(path)?;
        let offset = pointer_offset(text, pointer)?;
        Some(offset_to_position(text, offset))
    }
}

/// Converts a byte offset into a 1-based line and character column.
pub fn offset_to_position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line, column }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Unescapes one JSON pointer segment (`~1` → `/`, `~0` → `~`).
pub fn unescape_segment(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Escapes one JSON pointer segment.
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn pointer_offset(text: &str, pointer: &str) -> Option<usize> {
    let options = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        ..ParseOptions::default()
    };
    let parsed = jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &options).ok()?;
    let mut node = parsed.value.as_ref()?;
    let mut offset = node_start(node);
    if pointer.is_empty() {
        return Some(offset);
    }
    for raw in pointer.strip_prefix('/')?.split('/') {
        let segment = unescape_segment(raw);
        let next = match node {
            Ast::Object(obj) => obj
                .properties
                .iter()
                .find(|p| p.name.as_str() == segment)
                .map(|p| &p.value),
            Ast::Array(arr) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| arr.elements.get(i)),
            _ => None,
        };
        match next {
            Some(n) => {
                node = n;
                offset = node_start(n);
            }
            None => break,
        }
    }
    Some(offset)
}

fn node_start(node: &Ast<'_>) -> usize {
    match node {
        Ast::StringLit(v) => v.range.start,
        Ast::NumberLit(v) => v.range.start,
        Ast::BooleanLit(v) => v.range.start,
        Ast::Object(v) => v.range.start,
        Ast::Array(v) => v.range.start,
        Ast::NullKeyword(v) => v.range.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_positions() {
        let text = "{\n  \"a\": {\n    \"b/c\": [1, 2]\n  },\n  \"é\": \"x\"\n}";
        let mut map = SourceMap::default();
        map.insert("f.json".into(), text.into());
        let at = |p| map.position(Path::new("f.json"), p).unwrap();
        assert_eq!(at(""), Position { line: 1, column: 1 });
        assert_eq!(at("/a"), Position { line: 2, column: 8 });
        assert_eq!(
            at("/a/b~1c/1"),
            Position {
                line: 3,
                column: 16
            }
        );
        assert_eq!(at("/é"), Position { line: 5, column: 8 });
        // A missing key points at the nearest ancestor.
        assert_eq!(at("/a/missing"), Position { line: 2, column: 8 });
    }
}
