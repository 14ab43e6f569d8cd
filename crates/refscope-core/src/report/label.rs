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

/// The labels of a cycle's steps, one per step, kept as runs of one shared label: a ring
/// of a million links of one class holds its label once, with a count, not a million
/// clones of it (each an atomic increment, and eight bytes). A thin vector of
/// `(label, end)`, `end` being the position after the run: one pointer in a
/// [`super::CycleRecord`], nothing allocated while empty; a step is found by binary search
/// over the runs.
#[derive(Debug, Clone, Default)]
pub struct LabelRuns {
    runs: thin_vec::ThinVec<(EdgeLabel, u32)>,
}

impl LabelRuns {
    pub fn new() -> Self {
        LabelRuns::default()
    }

    /// Steps labelled.
    pub fn len(&self) -> usize {
        self.runs.last().map_or(0, |&(_, end)| end as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The label of step `position`.
    pub fn get(&self, position: usize) -> Option<&EdgeLabel> {
        let run = self
            .runs
            .partition_point(|&(_, end)| end as usize <= position);
        self.runs.get(run).map(|(label, _)| label)
    }

    /// Appends `count` steps labelled `label` (a clone shared by all of them).
    pub fn push_run(&mut self, label: EdgeLabel, count: usize) {
        if count == 0 {
            return;
        }
        let end = (self.len() + count) as u32;
        match self.runs.last_mut() {
            Some((last, last_end)) if last.is_shared_with(&label) => *last_end = end,
            _ => self.runs.push((label, end)),
        }
    }

    pub fn push(&mut self, label: EdgeLabel) {
        self.push_run(label, 1);
    }

    /// Appends one step labelled as the last one; false when there is none.
    pub fn repeat_last(&mut self) -> bool {
        match self.runs.last_mut() {
            Some((_, end)) => {
                *end += 1;
                true
            }
            None => false,
        }
    }

    /// Appends one step labelled `label`, cloning it only when it starts a run.
    pub fn push_shared(&mut self, label: &EdgeLabel) {
        let end = (self.len() + 1) as u32;
        match self.runs.last_mut() {
            Some((last, last_end)) if last.is_shared_with(label) => *last_end = end,
            _ => self.runs.push((label.clone(), end)),
        }
    }

    /// Relabels step `position` (splitting its run).
    pub fn set(&mut self, position: usize, label: EdgeLabel) {
        let steps: Vec<EdgeLabel> = self
            .iter()
            .enumerate()
            .map(|(p, l)| {
                if p == position {
                    label.clone()
                } else {
                    l.clone()
                }
            })
            .collect();
        *self = steps.into_iter().collect();
    }

    /// The label of every step, in order.
    pub fn iter(&self) -> LabelSteps<'_> {
        LabelSteps {
            runs: self.runs.iter(),
            current: None,
            position: 0,
        }
    }

    /// The runs: each label, and how many consecutive steps it labels.
    pub fn runs_with_counts(&self) -> impl Iterator<Item = (&EdgeLabel, usize)> + Clone + '_ {
        let mut start = 0usize;
        self.runs.iter().map(move |(label, end)| {
            let count = *end as usize - start;
            start = *end as usize;
            (label, count)
        })
    }
}

impl std::ops::Index<usize> for LabelRuns {
    type Output = EdgeLabel;
    fn index(&self, position: usize) -> &EdgeLabel {
        match self.get(position) {
            Some(label) => label,
            None => panic!("step {position} of a cycle of {} steps", self.len()),
        }
    }
}

/// Equal when every step's label is: runs may be cut differently.
impl PartialEq for LabelRuns {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for LabelRuns {}

impl FromIterator<EdgeLabel> for LabelRuns {
    /// Consecutive clones of one label share a run (equal labels that are not clones do
    /// not: comparing text per step would cost what the runs save).
    fn from_iter<I: IntoIterator<Item = EdgeLabel>>(steps: I) -> Self {
        let mut runs = LabelRuns::new();
        for label in steps {
            runs.push(label);
        }
        runs
    }
}

impl From<thin_vec::ThinVec<EdgeLabel>> for LabelRuns {
    fn from(steps: thin_vec::ThinVec<EdgeLabel>) -> Self {
        steps.into_iter().collect()
    }
}

impl From<Vec<EdgeLabel>> for LabelRuns {
    fn from(steps: Vec<EdgeLabel>) -> Self {
        steps.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a LabelRuns {
    type Item = &'a EdgeLabel;
    type IntoIter = LabelSteps<'a>;
    fn into_iter(self) -> LabelSteps<'a> {
        self.iter()
    }
}

/// The label of each step of a [`LabelRuns`], in order.
#[derive(Clone)]
pub struct LabelSteps<'a> {
    runs: std::slice::Iter<'a, (EdgeLabel, u32)>,
    /// The run being read, and the position after it.
    current: Option<(&'a EdgeLabel, u32)>,
    position: u32,
}

impl<'a> Iterator for LabelSteps<'a> {
    type Item = &'a EdgeLabel;

    #[inline]
    fn next(&mut self) -> Option<&'a EdgeLabel> {
        loop {
            if let Some((label, end)) = self.current {
                if self.position < end {
                    self.position += 1;
                    return Some(label);
                }
            }
            let (label, end) = self.runs.next()?;
            self.current = Some((label, *end));
        }
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
    fn label_runs_share_one_label_per_run_and_index_every_step() {
        let a = EdgeLabel::from(".next");
        let b = EdgeLabel::from("['k']");
        let mut runs = LabelRuns::new();
        runs.push_run(a.clone(), 3);
        runs.push(a.clone());
        runs.push(b.clone());
        runs.push_run(a.clone(), 0);
        runs.push_shared(&a);
        assert!(runs.repeat_last());
        assert_eq!(runs.len(), 7);
        assert_eq!(runs.runs_with_counts().count(), 3);
        let texts: Vec<&str> = runs.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            texts,
            [".next", ".next", ".next", ".next", "['k']", ".next", ".next"]
        );
        assert_eq!(runs[4].as_str(), "['k']");
        assert_eq!(runs[6].as_str(), ".next");
        assert!(runs.get(7).is_none());
        // Equal step by step, however the runs are cut.
        let one_by_one: LabelRuns = texts.iter().map(|&t| EdgeLabel::from(t)).collect();
        assert_eq!(one_by_one.runs_with_counts().count(), 7);
        assert_eq!(one_by_one, runs);
        let mut changed = runs.clone();
        changed.set(0, b.clone());
        assert_eq!(changed[0].as_str(), "['k']");
        assert_eq!(changed[1].as_str(), ".next");
        assert_ne!(changed, runs);
        assert!(LabelRuns::new().is_empty());
        assert_eq!(LabelRuns::new().len(), 0);
        assert!(!LabelRuns::new().repeat_last());
    }

    #[test]
    fn long_keys_are_cut_and_control_characters_escaped() {
        let label = EdgeLabel::new(LabelKind::DictValue(DictKey::Str("a\nb".repeat(40))));
        assert!(label.contains("\\n"));
        assert!(label.ends_with("…']"));
    }
}
