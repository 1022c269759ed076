//! The page: one card per row, filled into `page.html` (styles and script inline).

use std::fmt::Write;
use std::path::Path;

use animescore_scorefile::{ScoreRow, Tier};

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
    include_str!("page.html")
        .replace("__TITLE__", &escape(title))
        .replace("__CARD__", &thumb_size.clamp(120, 400).to_string())
        .replace("__TIERS__", &tier_boxes)
        .replace("__CARDS__", &cards_html)
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
}
