//! Every escaper of the reports, in one place, so one rule holds per
//! format: what a scenario's names and a server's bodies can contain must
//! not break the HTML page, the JUnit XML or a Markdown table.

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Removes characters XML 1.0 cannot carry (quick-junit strips C0 controls;
/// U+FFFE and U+FFFF slip through it and break strict parsers).
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !matches!(c, '\u{FFFE}' | '\u{FFFF}')
                && (!c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        })
        .collect()
}

/// Text for inline SVG: escaped for HTML and stripped of what XML cannot
/// carry, since inline SVG is XML to some readers.
pub fn svg_text(s: &str) -> String {
    esc(&xml_safe(s))
}

/// A Markdown table cell: one line (line breaks become `<br>`, which
/// GitHub renders inside a cell), pipes escaped so the row keeps its
/// columns.
pub fn md_cell(s: &str) -> String {
    s.replace('\r', "")
        .replace('\n', "<br>")
        .replace('|', "\\|")
}
