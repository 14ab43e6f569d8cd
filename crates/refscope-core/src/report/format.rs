//! Formatting shared by every renderer: sizes, counts, cut text, and escaping per format.
//!
//! One function per fact, so that a number reads the same in text, DOT, SVG and HTML
//! (one group is "5.0 GiB" everywhere), and one escaper per output language, each
//! documented with what it protects against. Every string of a report is user data (type
//! names, descriptions, labels, file names): a renderer writes none of it without the
//! escaper of its format.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write;

// --- numbers ------------------------------------------------------------------------------

/// `1023` -> `1023 B`, `1536` -> `1.5 KiB`, `5 << 30` -> `5.0 GiB`: binary units, one
/// decimal, the largest unit that keeps the value at least 1.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Digits grouped by thousands: `12345` -> `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The English plural ending for a count: `""` for 1, `"s"` otherwise.
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `text` cut to at most `max_chars` characters, the last one an ellipsis when cut.
pub fn truncate_chars(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.chars().count() <= max_chars {
        Cow::Borrowed(text)
    } else {
        let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        short.push('…');
        Cow::Owned(short)
    }
}

/// The parts of a fix hint's text, alternating prose and `code spans` (the backticks
/// removed): `(false, prose)`, `(true, code)`, ... An unclosed span runs to the end.
pub fn code_spans(text: &str) -> impl Iterator<Item = (bool, &str)> {
    text.split('`')
        .enumerate()
        .map(|(i, part)| (i % 2 == 1, part))
}

// --- terminals ----------------------------------------------------------------------------

/// Text for a terminal: control characters (ESC and friends) become visible Rust escapes
/// (`\u{1b}`), so user data cannot move the cursor, clear the screen or set a title.
pub fn escape_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

// --- XML, SVG and HTML --------------------------------------------------------------------

/// Escapes text for XML (and HTML) content and attribute values: `& < > " '` become
/// entities, tab, newline and carriage return become character references (so attribute
/// values keep them), and characters outside XML 1.0's `Char` production are dropped.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
/// (Rust strings cannot hold surrogates, so only controls and U+FFFE/U+FFFF fail).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// One line of XML display text: control characters become spaces, then it is escaped.
pub fn escape_xml_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        let flat: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        escape_xml(&flat)
    } else {
        escape_xml(text)
    }
}

// --- Graphviz DOT -------------------------------------------------------------------------

/// `text` as the inside of a double-quoted DOT string.
///
/// `"` and `\` are escaped (so user text can neither end the string nor form Graphviz
/// escapes such as `\N` or `\l`), `&` becomes `&amp;` (Graphviz decodes character
/// entities in labels: a user `&lt;` must not turn into `<`), and line breaks and other
/// control characters become visible escapes. `<` and `>` stay plain text: no renderer
/// emits HTML-like `<...>` labels (objgraph issue #30).
pub fn escape_dot(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("\\\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

// --- JSON inside an HTML <script> element -------------------------------------------------

/// A `serde_json` formatter whose strings are also safe inside an HTML `<script>` element:
/// `<`, `>` and `&` are `\u` escapes (so neither `</script>` nor `<!--` can appear), as are
/// U+2028 and U+2029 (line terminators in older JavaScript) and DEL; `serde_json` itself
/// escapes `"`, `\` and the other control characters.
struct ScriptSafe;

impl serde_json::ser::Formatter for ScriptSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{7f}') {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as compact JSON that can be put verbatim between `<script type=
/// "application/json">` and `</script>` (see [`ScriptSafe`]).
pub fn script_safe_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, ScriptSafe);
    // Serialising plain structs of strings and integers into memory cannot fail.
    value
        .serialize(&mut serializer)
        .expect("serialising report data to memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_scale_to_the_largest_unit() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        assert_eq!(human_size(3 << 40), "3.0 TiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn text_is_cut_with_an_ellipsis() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("中文字符", 2), "中…");
        assert_eq!(truncate_chars("abc", 0), "…");
    }

    #[test]
    fn code_spans_alternate() {
        let parts: Vec<_> = code_spans("use `a` or `b").collect();
        assert_eq!(
            parts,
            [(false, "use "), (true, "a"), (false, " or "), (true, "b")]
        );
    }

    #[test]
    fn terminal_text_carries_no_control_characters() {
        assert_eq!(escape_terminal("plain"), "plain");
        assert_eq!(escape_terminal("evil\x1b[2J\n"), "evil\\u{1b}[2J\\n");
    }

    #[test]
    fn xml_escaping_covers_markup_quotes_and_invalid_characters() {
        assert_eq!(
            escape_xml(r#"<script>"&'"#),
            "&lt;script&gt;&quot;&amp;&#39;"
        );
        assert_eq!(escape_xml("a\u{0}b\u{1b}c\u{FFFE}d"), "abcd");
        assert_eq!(escape_xml("tab\there\nline"), "tab&#9;here&#10;line");
        assert_eq!(escape_xml("ünï 中文 😀"), "ünï 中文 😀");
        assert_eq!(escape_xml_line("a\nb\u{1b}<"), "a b &lt;");
    }

    #[test]
    fn dot_escaping_neutralises_quotes_backslashes_entities_and_newlines() {
        assert_eq!(escape_dot("a\"b"), "a\\\"b");
        assert_eq!(escape_dot("\\N"), "\\\\N");
        assert_eq!(escape_dot("&lt;"), "&amp;lt;");
        assert_eq!(escape_dot("x\ny"), "x\\\\ny");
        assert_eq!(escape_dot("<b>"), "<b>");
        assert_eq!(escape_dot("\u{1b}"), "\\\\u{1b}");
    }

    #[test]
    fn script_safe_json_cannot_close_a_script_element_and_round_trips() {
        let text = "</script><!--\u{2028}\"\\\n\u{1}&\u{7f}é";
        let json = script_safe_json(&text);
        assert_eq!(
            json,
            r#""\u003c/script\u003e\u003c!--\u2028\"\\\n\u0001\u0026\u007fé""#
        );
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, text);
    }
}
