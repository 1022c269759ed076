//! Line and bar charts as plain SVG text.
//!
//! Two small charts do not justify a plotting library's build time on a 2-core CI, and SVG
//! needs no system fonts or libraries to write.

use std::fmt::Write as _;

use animescore_fs::escape_markup;
use animescore_run::EpochRecord;

const W: f64 = 420.0;
const H: f64 = 260.0;
const PAD: f64 = 44.0;
const COLORS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

/// A named series of `(x, y)` points.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points; non-finite `y` values are skipped.
    pub points: Vec<(f64, f64)>,
}

/// One line chart as an SVG `<g>` at `(x0, y0)`.
fn line_chart(out: &mut String, x0: f64, y0: f64, title: &str, series: &[Series]) {
    let finite = series.iter().flat_map(|s| s.points.iter()).filter(|p| p.1.is_finite());
    let (mut xmin, mut xmax, mut ymin, mut ymax) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in finite {
        xmin = xmin.min(x);
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    let _ = writeln!(out, r#"<g transform="translate({x0},{y0})">"#);
    let _ = writeln!(
        out,
        r##"<rect width="{W}" height="{H}" fill="white" stroke="#ccc"/><text x="{}" y="18" text-anchor="middle" font-size="13">{}</text>"##,
        W / 2.0,
        escape_markup(title)
    );
    if !xmin.is_finite() {
        let _ = writeln!(out, "</g>");
        return;
    }
    if xmax == xmin {
        xmax = xmin + 1.0;
    }
    if ymax == ymin {
        ymax = ymin + 1.0;
    }
    let sx = |x: f64| PAD + (x - xmin) / (xmax - xmin) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD + (ymin - y) / (ymax - ymin) * (H - 2.0 * PAD);
    let _ = writeln!(
        out,
        r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{b}" stroke="#444"/>"##,
        b = H - PAD,
        r = W - PAD
    );
    for (v, y) in [(ymin, H - PAD), (ymax, PAD)] {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" font-size="10">{v:.3}</text>"#,
            PAD - 4.0,
            y + 3.0
        );
    }
    for (v, x) in [(xmin, PAD), (xmax, W - PAD)] {
        let _ = writeln!(
            out,
            r#"<text x="{x}" y="{}" text-anchor="middle" font-size="10">{v}</text>"#,
            H - PAD + 14.0
        );
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="11" fill="{color}">{}</text>"#,
            PAD + 6.0,
            PAD + 12.0 * (i as f64 + 1.0),
            escape_markup(&s.name)
        );
    }
    let _ = writeln!(out, "</g>");
}

/// Loss and SRCC per epoch for train and validation, side by side.
pub fn curves_svg(history: &[EpochRecord]) -> String {
    let pick = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        history.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
    };
    let loss = [
        Series { name: "train loss".into(), points: pick(&|r| Some(r.train.loss)) },
        Series { name: "validation loss".into(), points: pick(&|r| Some(r.validation.loss)) },
    ];
    let srcc = [
        Series { name: "train SRCC".into(), points: pick(&|r| r.train.srcc) },
        Series { name: "validation SRCC".into(), points: pick(&|r| r.validation.srcc) },
    ];
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" font-family="sans-serif">"#,
        2.0 * W
    );
    out.push('\n');
    line_chart(&mut out, 0.0, 0.0, "loss per epoch", &loss);
    line_chart(&mut out, W, 0.0, "score SRCC per epoch", &srcc);
    out.push_str("</svg>\n");
    out
}

/// A horizontal bar chart of one value per label (e.g. test SRCC per run).
pub fn bars_svg(title: &str, bars: &[(String, f64)]) -> String {
    let row = 18.0;
    let label_w = 260.0;
    let height = 40.0 + row * bars.len() as f64;
    let max = bars.iter().map(|b| b.1).filter(|v| v.is_finite()).fold(0.0f64, f64::max).max(1e-9);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="13">{}</text>"#,
        label_w + 320.0,
        escape_markup(title)
    );
    out.push('\n');
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 30.0 + row * i as f64;
        let w = if v.is_finite() { (v.max(0.0) / max) * 260.0 } else { 0.0 };
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text><rect x="{}" y="{y}" width="{w:.1}" height="{}" fill="#1f77b4"/><text x="{}" y="{}" font-size="11">{v:.3}</text>"##,
            label_w - 6.0,
            y + 12.0,
            escape_markup(label),
            label_w,
            row - 4.0,
            label_w + w + 4.0,
            y + 12.0
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use animescore_run::SplitMetrics;

    #[test]
    fn svg_has_one_polyline_per_series() {
        let rec = |epoch, loss| EpochRecord {
            epoch,
            lr: 1e-3,
            seconds: 1.0,
            train: SplitMetrics { loss, srcc: Some(0.5), ..Default::default() },
            validation: SplitMetrics { loss: loss + 0.1, srcc: None, ..Default::default() },
        };
        let svg = curves_svg(&[rec(1, 1.0), rec(2, 0.5)]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        let bars = bars_svg("a<b", &[("x\u{202e}\0".into(), 0.5), ("y".into(), f64::NAN)]);
        assert!(bars.contains("a&lt;b") && bars.matches("<rect").count() == 3);
        // A grid cell named after a file: no raw NUL (invalid XML) or direction override.
        assert!(bars.contains("x\\u{202e}\\0") && !bars.contains(['\0', '\u{202e}']), "{bars}");
    }
}
