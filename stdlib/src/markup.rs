//! Text inside HTML and SVG alike (both XML markup): the one escape of the engine's
//! markup, below the tables, models and plots that write markup.

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
