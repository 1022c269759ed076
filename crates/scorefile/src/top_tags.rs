//! The `top_tags` column: `tag:p;tag:p`, most likely first.

/// The `top_tags` column of the contract (`tag:p;tag:p`, most likely first) as pairs;
/// `None` if a part has no `:p` or `p` is not a number. A tag may contain `:` itself: the
/// probability is after the last one.
pub fn parse_top_tags(text: &str) -> Option<Vec<(String, f64)>> {
    text.split(';')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (tag, p) = t.rsplit_once(':')?;
            Some((tag.trim().to_string(), p.trim().parse::<f64>().ok()?))
        })
        .collect()
}

/// `tag:p;tag:p` with 3 decimals.
pub(crate) fn format_top_tags(tags: &[(String, f64)]) -> String {
    tags.iter().map(|(t, p)| format!("{t}:{p:.3}")).collect::<Vec<_>>().join(";")
}
