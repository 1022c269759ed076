//! File names and other untrusted text as a terminal or a markup page shows them.
//!
//! A file name (or a path read from a score file) may hold control characters, an escape
//! sequence that recolours or clears the terminal, or a right-to-left override that makes
//! `gpj.exe` read as `exe.jpg`. [`Shown`] prints such characters as visible escapes (`\0`,
//! `\n`, `\u{202e}`) and bytes that are not UTF-8 as `\xNN`; everything else is printed as it
//! is. [`escape_markup`] does the same for HTML, SVG and XML text, and escapes the markup
//! characters too.

use std::fmt::{self, Write as _};
use std::path::Path;

/// Text shown with its control, invisible and direction-changing characters escaped (see the
/// module documentation).
///
/// ```
/// use animescore_fs::Shown;
/// let name = "a\u{202e}gnp.exe\0";
/// assert_eq!(Shown::text(name).to_string(), "a\\u{202e}gnp.exe\\0");
/// ```
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    bytes: &'a [u8],
    /// Line breaks and tabs printed as they are (a message of several lines).
    layout: bool,
}

impl<'a> Shown<'a> {
    /// A path, byte for byte (bytes that are not UTF-8 are shown as `\xNN`).
    pub fn path(path: &'a Path) -> Self {
        Self { bytes: path.as_os_str().as_encoded_bytes(), layout: false }
    }

    /// A piece of text (a name, a reason): every unsafe character escaped.
    pub fn text(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), layout: false }
    }

    /// A whole message, which may span lines: line breaks and tabs are kept, every other
    /// unsafe character escaped.
    pub fn message(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), layout: true }
    }
}

/// Whether a character must not reach a terminal or a page as it is: C0 and C1 controls,
/// DEL, and the invisible characters that change the direction or the joining of text.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width space, joiners, LRM, RLM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202a}'..='\u{202e}' // embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, isolates
            | '\u{061c}' // Arabic letter mark
            | '\u{feff}' // zero-width no-break space (BOM)
        )
}

fn escape_char(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\0' => out.write_str("\\0"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                let layout = self.layout && (c == '\n' || c == '\t');
                if is_unsafe_char(c) && !layout {
                    escape_char(f, c)?;
                } else {
                    f.write_char(c)?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `text` escaped for HTML, SVG or XML element content and quoted attributes: `& < > " '`
/// as entities, and the characters of [`is_unsafe_char`] as visible escapes (NUL and most
/// controls are not even allowed in XML; an override would reorder the page's text).
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_unsafe_char(c) => {
                let _ = escape_char(&mut out, c);
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
    fn controls_overrides_and_foreign_bytes_are_visible() {
        assert_eq!(Shown::text("plain/名前.png").to_string(), "plain/名前.png");
        assert_eq!(
            Shown::text("a\0b\x1b[2Jc\u{202e}d\ne").to_string(),
            "a\\0b\\u{1b}[2Jc\\u{202e}d\\ne"
        );
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(std::ffi::OsStr::from_bytes(b"x\xffy.png"));
            assert_eq!(Shown::path(p).to_string(), "x\\xffy.png");
        }
        assert_eq!(
            Shown::message("line 1\n\tline\u{202e} 2").to_string(),
            "line 1\n\tline\\u{202e} 2"
        );
        assert_eq!(
            escape_markup("<b a='1'>&\u{202e}\0</b>"),
            "&lt;b a=&#39;1&#39;&gt;&amp;\\u{202e}\\0&lt;/b&gt;"
        );
    }
}
