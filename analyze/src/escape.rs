//! Names from a capture (functions, watches, comms, paths, command lines)
//! are input: a control character in one must not forge a line of the text
//! summary, reach the terminal as an ANSI escape, or make an SVG/HTML file
//! ill-formed. Each output escapes with one of these.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every control character (Unicode Cc: C0, DEL, C1) written as a
/// visible `\xNN` escape, and a backslash as `\\` only when something was
/// escaped (so ordinary names, C++ and Windows-looking paths included, are
/// unchanged). For text and folded output.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A frame name for folded output: `;` separates frames and a newline
/// ends the line, so neither may appear raw (a `;` becomes `:`); no control
/// character may either (the folded text also feeds the SVG, where XML
/// forbids them).
pub fn frame(name: &str) -> Cow<'_, str> {
    if name.contains(';') {
        Cow::Owned(visible(&name.replace(';', ":")).into_owned())
    } else {
        visible(name)
    }
}

/// Escapes text for XML/HTML element content and attribute values:
/// `& < > " '` as entities, control characters (which XML 1.0 forbids even
/// as character references) as visible `\xNN`. Tab and newline are kept.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_plain_names_stay() {
        assert_eq!(
            visible("std::vec::Vec<u8>::push"),
            "std::vec::Vec<u8>::push"
        );
        assert_eq!(visible(r"C:\x"), r"C:\x");
        assert_eq!(visible("a\nb\x1b[31m\\"), r"a\x0ab\x1b[31m\\");
        assert_eq!(visible("\u{9b}"), r"\x9b");
        assert_eq!(xml("<a>&\x01\t\n\u{7f}"), "&lt;a&gt;&amp;\\x01\t\n\\x7f");
        assert_eq!(
            xml("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(frame("a;b\nc"), r"a:b\x0ac");
    }
}
