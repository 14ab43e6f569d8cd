//! Typed edge labels: which reference of an object a cycle follows.
//!
//! The binding builds an [`EdgeLabel`] from facts it read (an attribute name, a dict key,
//! an index, a frame local...); the fix hints match on its [`LabelKind`], and every
//! format prints its text, built once here, so no code anywhere reads a label's text back
//! to learn what it is. The texts are refscope's stable label grammar: `.attr`,
//! `['key']`, `(key 'k')`, `.__dict__['my attr']`, `[3]`, `{element}`,
//! `[0] closure var x`, `local x`, `cell x`, `generator frame local x`, `?`.

use std::fmt;

/// Longest key or name text shown in a label, in characters (then `…`).
pub const MAX_KEY_TEXT: usize = 60;

/// A dict key, as refscope can show it without running user code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DictKey {
    /// An exact or subclassed str, by its text (quoted and escaped when shown).
    Str(String),
    Int(i64),
    /// `None`, `True` or `False`.
    Literal(&'static str),
    /// Any other key, by its type's name.
    Other(String),
}

impl DictKey {
    /// The key's text when it is a str.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            DictKey::Str(text) => Some(text),
            _ => None,
        }
    }
}

/// Python-style single-quoted, escaped and truncated text. The text is user data: it is
/// escaped here for readability and escaped again by each output format.
pub fn quote(text: &str) -> String {
    let mut out = String::from("'");
    for (count, c) in text.chars().enumerate() {
        if count == MAX_KEY_TEXT {
            out.push('…');
            break;
        }
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl fmt::Display for DictKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DictKey::Str(text) => f.write_str(&quote(text)),
            DictKey::Int(value) => write!(f, "{value}"),
            DictKey::Literal(literal) => f.write_str(literal),
            DictKey::Other(type_name) => write!(f, "<{type_name}>"),
        }
    }
}

/// What a reference is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelKind {
    /// An attribute or a C-level field: `.name`.
    Attribute(String),
    /// An instance attribute whose name is not an identifier (set with `setattr`):
    /// `.__dict__['my attr']`.
    InstanceDictValue(DictKey),
    /// A dict's value: `['key']`.
    DictValue(DictKey),
    /// A dict's key: `(key 'k')`.
    DictKey(DictKey),
    /// An item of a list or tuple: `[3]`.
    Index(u64),
    /// An element of a set: `{element}`.
    SetElement,
    /// A closure tuple's cell for a free variable: `[0] closure var x`.
    ClosureVariable { index: u64, name: String },
    /// A frame's local variable: `local x`.
    Local(String),
    /// A frame's cell variable: `cell x`.
    Cell(String),
    /// A suspended generator's or coroutine's frame local: `generator frame local x`.
    GeneratorLocal(String),
    /// A suspended generator's or coroutine's cell variable: `generator frame cell x`.
    GeneratorCell(String),
    /// Not known: `?`.
    Unknown,
    /// Text from elsewhere (tests, files), shown as it is and never interpreted.
    Text(String),
}

impl fmt::Display for LabelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelKind::Attribute(name) => write!(f, ".{name}"),
            LabelKind::InstanceDictValue(key) => write!(f, ".__dict__[{key}]"),
            LabelKind::DictValue(key) => write!(f, "[{key}]"),
            LabelKind::DictKey(key) => write!(f, "(key {key})"),
            LabelKind::Index(index) => write!(f, "[{index}]"),
            LabelKind::SetElement => f.write_str("{element}"),
            LabelKind::ClosureVariable { index, name } => write!(f, "[{index}] closure var {name}"),
            LabelKind::Local(name) => write!(f, "local {name}"),
            LabelKind::Cell(name) => write!(f, "cell {name}"),
            LabelKind::GeneratorLocal(name) => write!(f, "generator frame local {name}"),
            LabelKind::GeneratorCell(name) => write!(f, "generator frame cell {name}"),
            LabelKind::Unknown => f.write_str("?"),
            LabelKind::Text(text) => f.write_str(text),
        }
    }
}

/// An edge label: its kind, and its text (built once, for every format). Cloning shares
/// both (a ring of a million links of one class holds one label a million times).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EdgeLabel {
    inner: std::sync::Arc<(LabelKind, String)>,
}

impl EdgeLabel {
    pub fn new(kind: LabelKind) -> Self {
        let text = kind.to_string();
        EdgeLabel {
            inner: std::sync::Arc::new((kind, text)),
        }
    }

    pub fn kind(&self) -> &LabelKind {
        &self.inner.0
    }

    pub fn as_str(&self) -> &str {
        &self.inner.1
    }

    /// The same label, not only an equal one: a clone of it (one pointer compare).
    pub fn is_shared_with(&self, other: &EdgeLabel) -> bool {
        std::sync::Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The attribute this label names, for `Attribute` and `InstanceDictValue` (a str key).
    pub fn attribute_name(&self) -> Option<&str> {
        match self.kind() {
            LabelKind::Attribute(name) => Some(name),
            LabelKind::InstanceDictValue(key) => key.as_str(),
            _ => None,
        }
    }

    /// True for the attribute `name` (`.name`).
    pub fn is_attribute(&self, name: &str) -> bool {
        matches!(self.kind(), LabelKind::Attribute(n) if n == name)
    }
}

impl std::ops::Deref for EdgeLabel {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for EdgeLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<LabelKind> for EdgeLabel {
    fn from(kind: LabelKind) -> Self {
        EdgeLabel::new(kind)
    }
}

/// Verbatim text (tests, labels read from a file): [`LabelKind::Text`], never parsed.
impl From<&str> for EdgeLabel {
    fn from(text: &str) -> Self {
        EdgeLabel::new(LabelKind::Text(text.to_owned()))
    }
}

impl From<String> for EdgeLabel {
    fn from(text: String) -> Self {
        EdgeLabel::new(LabelKind::Text(text))
    }
}

impl PartialEq<str> for EdgeLabel {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EdgeLabel {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for EdgeLabel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Labels order by their text (signatures are ordered by text).
impl Ord for EdgeLabel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_prints_the_label_grammar() {
        let cases = [
            (LabelKind::Attribute("parent".into()), ".parent"),
            (
                LabelKind::InstanceDictValue(DictKey::Str("my parent".into())),
                ".__dict__['my parent']",
            ),
            (
                LabelKind::DictValue(DictKey::Str("it's".into())),
                r"['it\'s']",
            ),
            (LabelKind::DictValue(DictKey::Int(-3)), "[-3]"),
            (
                LabelKind::DictKey(DictKey::Other("Key".into())),
                "(key <Key>)",
            ),
            (LabelKind::DictValue(DictKey::Literal("None")), "[None]"),
            (LabelKind::Index(7), "[7]"),
            (LabelKind::SetElement, "{element}"),
            (
                LabelKind::ClosureVariable {
                    index: 0,
                    name: "walk".into(),
                },
                "[0] closure var walk",
            ),
            (LabelKind::Local("exc".into()), "local exc"),
            (LabelKind::Cell("x".into()), "cell x"),
            (
                LabelKind::GeneratorLocal("me".into()),
                "generator frame local me",
            ),
            (
                LabelKind::GeneratorCell("me".into()),
                "generator frame cell me",
            ),
            (LabelKind::Unknown, "?"),
        ];
        for (kind, text) in cases {
            assert_eq!(EdgeLabel::new(kind).as_str(), text);
        }
    }

    #[test]
    fn long_keys_are_cut_and_control_characters_escaped() {
        let label = EdgeLabel::new(LabelKind::DictValue(DictKey::Str("a\nb".repeat(40))));
        assert!(label.contains("\\n"));
        assert!(label.ends_with("…']"));
    }
}
