//! The page: one card per row, filled into `page.html` (styles and script inline). The
//! Content-Security-Policy allows the page's one script by its SHA-256 hash, not
//! `'unsafe-inline'`: markup that escaped its escaping could not run code.

use std::fmt::Write;
use std::path::Path;

use animescore_scorefile::{ScoreRow, Tier};
use sha2::{Digest, Sha256};

use crate::thumbs::base64;

/// What a card shows besides its row.
pub struct Card<'a> {
    /// The scored image.
    pub row: &'a ScoreRow,
    /// Thumbnail `data:` URI, or why there is none.
    pub thumbnail: Result<String, String>,
    /// The explanation picture, when there is one.
    pub explanation: Option<&'a Path>,
}

/// The whole page.
pub fn page(title: &str, thumb_size: u32, cards: &[Card<'_>]) -> String {
    // Best tier first, rows without a tier last.
    let mut tiers: Vec<&str> = Tier::ALL.iter().rev().map(|t| t.name()).collect();
    tiers.push(NO_TIER);
    tiers.retain(|t| cards.iter().any(|c| tier_key(c.row.tier) == *t));
    let tier_boxes: String = tiers
        .iter()
        .map(|t| {
            format!(
                "<label class=\"{}\"><input type=\"checkbox\" value=\"{}\" checked> {}</label>",
                tier_class(t),
                escape(t),
                escape(t)
            )
        })
        .collect();
    let cards_html: String = cards.iter().map(card).collect();
    // The hash goes in first, before any text from the score file.
    TEMPLATE
        .replace("__SCRIPT_HASH__", &script_hash(TEMPLATE))
        .replace("__TITLE__", &escape(title))
        .replace("__CARD__", &thumb_size.clamp(120, 400).to_string())
        .replace("__TIERS__", &tier_boxes)
        .replace("__CARDS__", &cards_html)
}

const TEMPLATE: &str = include_str!("page.html");

/// The CSP source (`sha256-…`) of the first inline `<script>` of `page`: the hash of its
/// text, exactly as it stands between the tags.
fn script_hash(page: &str) -> String {
    let body = page
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(body, _)| body);
    format!("sha256-{}", base64(&Sha256::digest(body.as_bytes())))
}

/// What the page calls a row without a tier.
const NO_TIER: &str = "unknown";

fn tier_key(tier: Option<Tier>) -> &'static str {
    tier.map_or(NO_TIER, Tier::name)
}

fn tier_class(tier: &str) -> &'static str {
    match tier {
        "worst" => "t-worst",
        "low" => "t-low",
        "normal" => "t-normal",
        "good" => "t-good",
        "great" => "t-great",
        "best" => "t-best",
        "masterpiece" => "t-masterpiece",
        _ => "t-other",
    }
}

fn card(c: &Card<'_>) -> String {
    let r = c.row;
    let tier = tier_key(r.tier);
    let href = file_url(Path::new(&r.path));
    let thumb = match &c.thumbnail {
        Ok(uri) => format!("<img src=\"{uri}\" alt=\"{}\" loading=\"lazy\">", escape(&r.filename)),
        Err(reason) => format!("<div class=\"missing\">no preview<br>{}</div>", escape(reason)),
    };
    let mut meta = Vec::new();
    if let Some(p) = r.ai_probability {
        meta.push(format!("AI {:.0}%", 100.0 * p));
    }
    if let Some(level) = r.sanity_level {
        meta.push(format!("sanity {level}"));
    }
    if let Some(p) = r.percentile {
        meta.push(format!("p{p:.0}"));
    }
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<article class=\"card\" data-score=\"{score}\" data-tier=\"{tier_attr}\" data-name=\"{name}\">\
         <a class=\"thumb\" href=\"{href}\" title=\"open the original\">{thumb}</a>\
         <div class=\"info\"><div class=\"top\"><span class=\"score\">{score_text}</span>\
         <span class=\"tier {class}\">{tier_text}</span></div>\
         <a class=\"name\" href=\"{href}\" title=\"{path}\">{name}</a>\
         <div class=\"meta\">{meta}</div><div class=\"tags\">{tags}</div>{why}</div></article>",
        score = r.score,
        tier_attr = escape(tier),
        name = escape(&r.filename),
        score_text = format_args!("{:.1}", r.score),
        class = tier_class(tier),
        tier_text = escape(tier),
        path = escape(&r.path),
        meta = escape(&meta.join(" · ")),
        tags = r
            .top_tags
            .iter()
            .map(|(t, p)| format!("<span title=\"{p:.2}\">{}</span>", escape(t)))
            .collect::<String>(),
        why = c.explanation.map_or_else(String::new, |p| format!(
            "<a class=\"why\" href=\"{}\">why this score?</a>",
            file_url(p)
        )),
    );
    html
}

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `file://` URL of a path (made absolute), percent-encoded byte by byte.
pub fn file_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = absolute.to_string_lossy().replace('\\', "/");
    let mut url = String::from("file://");
    if !text.starts_with('/') {
        url.push('/');
    }
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_text_are_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(file_url(Path::new("/tmp/a b/初.png")), "file:///tmp/a%20b/%E5%88%9D.png");
    }

    #[test]
    fn the_script_runs_by_its_hash_not_as_any_inline_script() {
        let html = page("</script><script>alert(1)</script>", 200, &[]);
        let policy = html.split_once("Content-Security-Policy\" content=\"").unwrap().1;
        let policy = policy.split_once('"').unwrap().0;
        let script = policy.split("; ").find(|d| d.starts_with("script-src ")).unwrap();
        // The page's one script element, hashed as a browser hashes it.
        let (_, rest) = html.split_once("<script>").unwrap();
        let (body, rest) = rest.split_once("</script>").unwrap();
        assert!(!rest.contains("<script"), "one script element");
        let want = format!("script-src 'sha256-{}'", base64(&Sha256::digest(body.as_bytes())));
        assert_eq!(script, want);
        assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
    }
}
