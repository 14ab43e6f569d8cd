//! One palette for every picture and page: DOT, SVG and HTML draw an object with a
//! finaliser in the same red, a frame in the same blue, the reference to break in the same
//! orange; the terminal's ANSI colours mean the same things.
//!
//! Colours are dark text on light fills (contrast ≥ 4.5:1 for text), except the
//! finaliser, which is white text on a strong red: it is the one a reader must not miss
//! (objgraph's convention: objects with `__del__` are red).

use super::ObjectKind;

/// Main text.
pub const TEXT: &str = "#0f172a";
/// Secondary text: descriptions, captions, legends.
pub const MUTED_TEXT: &str = "#475569";
/// Least important text: position numbers, borders of placeholders.
pub const FAINT_TEXT: &str = "#94a3b8";
/// A reference (an edge of a cycle).
pub const EDGE: &str = "#475569";
/// The reference a fix hint says to break.
pub const BREAK_EDGE: &str = "#ea580c";
/// Behind the label of the reference to break.
pub const BREAK_LABEL_FILL: &str = "#fff7ed";
/// Behind every picture.
pub const BACKGROUND: &str = "#ffffff";
/// The "… N more …" stand-in for objects a picture leaves out.
pub const ELISION_FILL: &str = "#f8fafc";

/// Font stacks: type names and labels are code, everything else prose.
pub const MONO_FONTS: &str = "ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
pub const SANS_FONTS: &str = "system-ui, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";

/// How one object is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStyle {
    pub fill: &'static str,
    pub stroke: &'static str,
    /// The type name.
    pub text: &'static str,
    /// The description under it.
    pub muted_text: &'static str,
}

const fn plain(fill: &'static str, stroke: &'static str) -> NodeStyle {
    NodeStyle {
        fill,
        stroke,
        text: TEXT,
        muted_text: MUTED_TEXT,
    }
}

/// An object whose type defines `__del__`: whatever its kind.
pub const FINALIZER: NodeStyle = NodeStyle {
    fill: "#dc2626",
    stroke: "#7f1d1d",
    text: "#ffffff",
    muted_text: "#fee2e2",
};
pub const FRAME: NodeStyle = plain("#dbeafe", "#1d4ed8");
pub const INSTANCE: NodeStyle = plain("#ffffff", "#334155");
/// Exceptions and tracebacks.
pub const EXCEPTION: NodeStyle = plain("#fef3c7", "#b45309");
/// Functions, methods, cells, code objects and generators.
pub const CALLABLE: NodeStyle = plain("#ecfdf5", "#047857");
/// Containers, types and everything else.
pub const OTHER: NodeStyle = plain("#f1f5f9", "#64748b");

/// The style of an object of `kind`, red when it has a finaliser.
pub fn node_style(kind: ObjectKind, has_finalizer: bool) -> NodeStyle {
    if has_finalizer {
        return FINALIZER;
    }
    match kind {
        ObjectKind::Frame => FRAME,
        ObjectKind::Instance => INSTANCE,
        ObjectKind::Exception | ObjectKind::Traceback => EXCEPTION,
        ObjectKind::Function
        | ObjectKind::Method
        | ObjectKind::Cell
        | ObjectKind::Code
        | ObjectKind::Generator => CALLABLE,
        _ => OTHER,
    }
}

/// The palette as CSS custom properties, for the HTML page's stylesheet.
pub fn css_variables() -> String {
    format!(
        ":root {{ --text: {TEXT}; --muted: {MUTED_TEXT}; --faint: {FAINT_TEXT}; \
         --red: {}; --blue: {}; --orange: {BREAK_EDGE}; --orange-fill: {BREAK_LABEL_FILL}; }}",
        FINALIZER.fill, FRAME.stroke,
    )
}

/// ANSI escape sequences for terminal text, or none.
#[derive(Debug)]
pub struct Ansi {
    pub bold: &'static str,
    /// Finalisers.
    pub red: &'static str,
    /// Fix hints.
    pub green: &'static str,
    pub dim: &'static str,
    /// References.
    pub cyan: &'static str,
    pub reset: &'static str,
}

pub const ANSI_COLOR: Ansi = Ansi {
    bold: "\x1b[1m",
    red: "\x1b[31m",
    green: "\x1b[32m",
    dim: "\x1b[2m",
    cyan: "\x1b[36m",
    reset: "\x1b[0m",
};

pub const ANSI_PLAIN: Ansi = Ansi {
    bold: "",
    red: "",
    green: "",
    dim: "",
    cyan: "",
    reset: "",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finaliser_is_red_whatever_the_kind() {
        for kind in [ObjectKind::Instance, ObjectKind::Frame, ObjectKind::Dict] {
            assert_eq!(node_style(kind, true), FINALIZER);
        }
        assert_eq!(node_style(ObjectKind::Frame, false), FRAME);
        assert_eq!(node_style(ObjectKind::Dict, false), OTHER);
    }

    #[test]
    fn the_page_gets_the_same_red_blue_and_orange() {
        let css = css_variables();
        assert!(css.contains("--red: #dc2626;"), "{css}");
        assert!(css.contains("--blue: #1d4ed8;"), "{css}");
        assert!(css.contains("--orange: #ea580c;"), "{css}");
    }
}
