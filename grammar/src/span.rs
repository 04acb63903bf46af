//! Byte spans into named sources (a script, a REPL line, a notebook cell).

use serde::Serialize;

/// Which source text a span points into; an index into a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct SourceId(pub u32);

/// A byte range `start..end` in one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub source: SourceId,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Span { start, end, source }
    }

    /// The smallest span covering both (they must share a source).
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
            source: self.source,
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// Spans serialize compactly as `source:start-end`, so AST snapshots stay readable.
impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}:{}-{}", self.source.0, self.start, self.end))
    }
}

/// Every piece of text a session has seen, so a diagnostic can be rendered long after
/// the text was parsed.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    sources: Vec<(String, String)>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        self.sources.push((name.into(), text.into()));
        SourceId((self.sources.len() - 1) as u32)
    }

    pub fn name(&self, id: SourceId) -> &str {
        self.sources
            .get(id.0 as usize)
            .map_or("<unknown>", |s| s.0.as_str())
    }

    pub fn text(&self, id: SourceId) -> &str {
        self.sources.get(id.0 as usize).map_or("", |s| s.1.as_str())
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text(span.source).get(span.range()).unwrap_or("")
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, source: SourceId, offset: usize) -> (usize, usize) {
        let text = self.text(source);
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}
