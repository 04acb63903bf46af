//! Jupyter counts cursor positions in Unicode code points (protocol 5.2+); the engine
//! counts bytes. The one conversion, both ways.

/// The byte offset of code point `cursor` (clamped to the end).
pub fn byte_offset(text: &str, cursor: usize) -> usize {
    text.char_indices()
        .nth(cursor)
        .map_or(text.len(), |(i, _)| i)
}

/// The code-point position of byte offset `byte`.
pub fn code_points(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astral_plane_characters_count_once() {
        // U+1F600 is one code point, four bytes (and two UTF-16 units).
        let text = "x = \"😀\" |> fil";
        assert_eq!(byte_offset(text, 7), 10);
        assert_eq!(code_points(text, 10), 7);
        assert_eq!(byte_offset(text, text.chars().count()), text.len());
        assert_eq!(code_points(text, text.len()), text.chars().count());
        assert_eq!(byte_offset(text, 1000), text.len());
    }
}
