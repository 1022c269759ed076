//! The page: `page.html` filled with the title, the tier filter, the card data, and
//! `page.css` / `page.js` inline, each allowed by its SHA-256 hash in the
//! Content-Security-Policy (no `'unsafe-inline'`: text that escaped its escaping could not
//! run). Placeholders are filled in one pass over the template, so a value that happens to
//! contain a placeholder's name stays text.

use std::fmt::Write;
use std::path::Path;

use animescore_fs::escape_markup;
use sha2::{Digest, Sha256};

use crate::base64;

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The whole page for the tiers present (best first) and the card data (JSON, script-safe).
pub fn page(title: &str, tiers: &[&str], data: &str) -> String {
    let tier_boxes: String = tiers
        .iter()
        .map(|t| {
            format!(
                "<label class=\"t-{t}\"><input type=\"checkbox\" value=\"{t}\" checked> {t}</label>",
                t = escape_markup(t)
            )
        })
        .collect();
    let csp = format!(
        "default-src 'none'; img-src data: file:; style-src '{}'; script-src '{}'; \
         base-uri 'none'; form-action 'none'",
        hash(STYLE),
        hash(SCRIPT)
    );
    fill(
        TEMPLATE,
        &[
            ("CSP", &csp),
            ("TITLE", &escape_markup(title)),
            ("STYLE", STYLE),
            ("TIERS", &tier_boxes),
            ("DATA", data),
            ("SCRIPT", SCRIPT),
        ],
    )
}

/// A CSP hash source of an inline element's text.
fn hash(text: &str) -> String {
    format!("sha256-{}", base64::encode(&Sha256::digest(text.as_bytes())))
}

/// `template` with each `__KEY__` replaced by its value, in one pass.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let extra: usize = values.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(template.len() + extra);
    let mut rest = template;
    while let Some(start) = rest.find("__") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let found = values
            .iter()
            .find(|(key, _)| after.starts_with(key) && after[key.len()..].starts_with("__"));
        match found {
            Some((key, value)) => {
                out.push_str(value);
                rest = &after[key.len() + 2..];
            }
            None => {
                out.push_str("__");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text percent-encoded byte by byte, all but `A-Z a-z 0-9 / - . _ ~` (a URL path).
pub fn percent_encode(text: &str) -> String {
    let mut url = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

/// A `file://` URL of a path (made absolute), percent-encoded byte by byte.
pub fn file_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = absolute.to_string_lossy().replace('\\', "/");
    let slash = if text.starts_with('/') { "" } else { "/" };
    format!("file://{slash}{}", percent_encode(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(file_url(Path::new("/tmp/a b/初.png")), "file:///tmp/a%20b/%E5%88%9D.png");
    }

    #[test]
    fn placeholders_are_filled_once() {
        let filled =
            fill("<t>__TITLE__</t>__DATA__ __X__", &[("TITLE", "__DATA__"), ("DATA", "d")]);
        assert_eq!(filled, "<t>__DATA__</t>d __X__");
    }

    /// Only the page's own script and style may run: the policy names their hashes and
    /// nothing inline besides.
    #[test]
    fn the_policy_allows_only_the_pages_own_script() {
        let html = page("t", &["best"], "{}");
        let csp_start = html.find("Content-Security-Policy").unwrap();
        let csp = &html[csp_start..csp_start + html[csp_start..].find('>').unwrap()];
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(csp.contains(&format!("script-src '{}'", hash(SCRIPT))), "{csp}");
        assert!(csp.contains(&format!("style-src '{}'", hash(STYLE))), "{csp}");
        // The hashed text is exactly what the page holds between the tags.
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        assert!(!html.contains("http://") && !html.contains("https://"), "the page must not fetch");
        // A hostile title stays text.
        let html = page("</script><script>alert(1)</script>", &["best"], "{}");
        assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
        assert_eq!(html.matches("<script>").count(), 1, "one script element");
    }
}
