//! The training charts, drawn with `plotters`' SVG backend: `curves.svg` (four panels per
//! epoch: the monitored metric with the best epoch marked, the per-task losses, the score's
//! other metric, the learning rate) and `results.svg` (one bar per run of a grid).
//!
//! Every panel has axis titles, ticks and a legend in its own strip under the plot, so the
//! legend never covers a line. The SVG holds `<text>` elements: fonts are the viewer's
//! business, no font is read when writing.

use animescore_run::{EpochRecord, Monitor, SplitMetrics};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use animescore_fs::Shown;

use crate::error::{Result, TrainingError};

/// Size of one panel of `curves.svg`.
const PANEL: (u32, u32) = (520, 330);
/// Lines with at most this many points get a marker on each.
const MAX_MARKED_POINTS: usize = 15;
/// Height of the legend strip under a panel's plot.
const LEGEND_H: u32 = 26;
/// Line colours (the Tableau 10 palette, in order).
const COLORS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];
const FONT: &str = "sans-serif";

/// One value of a split's metrics, when it has one.
type Metric = fn(&SplitMetrics) -> Option<f64>;

/// One line of a panel.
struct Line {
    name: String,
    color: RGBColor,
    /// Train values are dashed, validation values solid.
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The epoch to mark on a panel, with its value.
struct Best {
    epoch: f64,
    value: f64,
}

fn err(chart: &'static str) -> impl Fn(&dyn std::fmt::Display) -> TrainingError {
    move |e| TrainingError::Plot { chart, reason: e.to_string() }
}

/// Per-epoch curves of a run as one SVG of four panels:
///
/// 1. the monitored metric (train and validation) with `best_epoch` marked;
/// 2. each task's raw loss (validation solid, train dashed);
/// 3. the score's other metric: SRCC, or the score loss when SRCC is monitored;
/// 4. the learning rate.
pub fn curves_svg(
    history: &[EpochRecord],
    monitor: Monitor,
    best_epoch: Option<usize>,
) -> Result<String> {
    let e = err("curves.svg");
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (2 * PANEL.0, 2 * PANEL.1)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let panels = root.split_evenly((2, 2));
        let pick = |split: fn(&EpochRecord) -> &SplitMetrics,
                    f: &dyn Fn(&SplitMetrics) -> Option<f64>| {
            history.iter().filter_map(|r| f(split(r)).map(|v| (r.epoch as f64, v))).collect()
        };
        fn train(r: &EpochRecord) -> &SplitMetrics {
            &r.train
        }
        fn validation(r: &EpochRecord) -> &SplitMetrics {
            &r.validation
        }
        // The panel's title names the metric; the legend names the split.
        let pair = |f: &dyn Fn(&SplitMetrics) -> Option<f64>| {
            vec![
                Line {
                    name: "train".into(),
                    color: COLORS[0],
                    dashed: true,
                    points: pick(train, f),
                },
                Line {
                    name: "validation".into(),
                    color: COLORS[1],
                    dashed: false,
                    points: pick(validation, f),
                },
            ]
        };

        // 1. The monitored metric and the best epoch.
        let monitored = |m: &SplitMetrics| monitor.value(m);
        let (what, unit) = metric_names(monitor);
        let best = best_epoch.and_then(|epoch| {
            let record = history.iter().find(|r| r.epoch == epoch)?;
            Some(Best { epoch: epoch as f64, value: monitor.value(&record.validation)? })
        });
        let direction = if monitor.higher_is_better() { "higher" } else { "lower" };
        let title = format!("{what}: monitored ({}, {direction} is better)", monitor.name());
        panel(&panels[0], &title, unit, &pair(&monitored), best.as_ref(), Scale::Linear)
            .map_err(|x| e(&x))?;

        // 2. Per-task losses.
        let tasks: [(&str, Metric); 4] = [
            ("score", |m| Some(m.loss_score)),
            ("AI", |m| Some(m.loss_ai)),
            ("sanity", |m| Some(m.loss_sanity)),
            ("tags", |m| m.loss_tags),
        ];
        let mut losses = Vec::new();
        for (i, (name, f)) in tasks.iter().enumerate() {
            let color = COLORS[(i + 2) % COLORS.len()];
            let (train, validation) = (pick(train, f), pick(validation, f));
            if train.is_empty() && validation.is_empty() {
                continue;
            }
            losses.push(Line {
                name: format!("{name} (val)"),
                color,
                dashed: false,
                points: validation,
            });
            losses.push(Line { name: String::new(), color, dashed: true, points: train });
        }
        let title = "raw loss per task (validation solid, train dashed)";
        panel(&panels[1], title, "loss (log scale)", &losses, None, Scale::LogIfPositive)
            .map_err(|x| e(&x))?;

        // 3. The score's other metric.
        let (title, unit, lines) = if monitor == Monitor::ValSrcc {
            ("score loss", "loss", pair(&|m| Some(m.loss_score)))
        } else {
            ("score SRCC (Spearman)", "SRCC", pair(&|m| m.srcc))
        };
        panel(&panels[2], title, unit, &lines, None, Scale::Linear).map_err(|x| e(&x))?;

        // 4. The learning rate.
        let lr = vec![Line {
            name: "learning rate (end of epoch)".into(),
            color: COLORS[4],
            dashed: false,
            points: history.iter().map(|r| (r.epoch as f64, r.lr)).collect(),
        }];
        panel(&panels[3], "learning rate", "lr", &lr, None, Scale::Linear).map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

/// What `monitor` measures and its unit, as the chart names them.
fn metric_names(monitor: Monitor) -> (&'static str, &'static str) {
    match monitor {
        Monitor::ValScoreLoss => ("score loss", "loss"),
        Monitor::ValSrcc => ("score SRCC", "SRCC"),
        Monitor::ValTotal => ("weighted total loss", "loss"),
    }
}

type DrawResult<T> = std::result::Result<T, DrawingAreaErrorKind<std::io::Error>>;

/// A line chart over epochs in `area`: title, axis titles, ticks, `lines`, the `best` epoch
/// marked, and a legend strip under the plot.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    best: Option<&Best>,
    scale: Scale,
) -> DrawResult<()> {
    let (plot_area, legend_area) = area.split_vertically(PANEL.1 - LEGEND_H);
    let points = || lines.iter().flat_map(|l| l.points.iter()).filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) =
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (1.0, 2.0, 0.0, 1.0);
    }
    // One epoch still gets an axis; the value range gets a margin so no line sits on a border.
    let x1 = x1.max(x0 + 1.0);
    let log = scale == Scale::LogIfPositive && y0 > 0.0;
    let (y0, y1) = if log {
        (y0 / 1.25, y1 * 1.25)
    } else {
        let pad = if y1 > y0 { 0.06 * (y1 - y0) } else { 0.5 * y0.abs().max(1e-3) };
        (y0 - pad, y1 + pad)
    };
    let mut builder = ChartBuilder::on(&plot_area);
    builder
        .caption(title, (FONT, 15))
        .margin(8)
        .margin_right(16)
        .x_label_area_size(36)
        .y_label_area_size(62);
    let epochs = (x1 - x0).round() as usize + 1;
    let x_ticks = epochs.min(11);
    if log {
        let mut chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
        mesh(&mut chart, x_ticks, y_desc, &|y| log_tick(*y))?;
        draw_lines(&mut chart, lines, best, (y0, y1))?;
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        mesh(&mut chart, x_ticks, y_desc, &|y| tick(*y, (y1 - y0) / 7.0))?;
        draw_lines(&mut chart, lines, best, (y0, y1))?;
    }
    legend(&legend_area, lines, best)
}

/// How a panel's value axis is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Linear,
    /// Logarithmic when every value is positive (losses of very different sizes).
    LogIfPositive,
}

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// Axis titles, ticks and a light grid.
fn mesh<Y>(
    chart: &mut Chart<'_, '_, Y>,
    x_ticks: usize,
    y_desc: &str,
    y_format: &dyn Fn(&f64) -> String,
) -> DrawResult<()>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(x_ticks)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_labels(7)
        .y_label_formatter(y_format)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
}

/// The lines (train dashed), points where there are few epochs, and the best epoch: a
/// dashed vertical line over the value range `y` and a ring on its value.
fn draw_lines<Y>(
    chart: &mut Chart<'_, '_, Y>,
    lines: &[Line],
    best: Option<&Best>,
    y: (f64, f64),
) -> DrawResult<()>
where
    Y: Ranged<ValueType = f64>,
{
    for line in lines {
        let points: Vec<(f64, f64)> =
            line.points.iter().copied().filter(|p| p.1.is_finite()).collect();
        let style = line.color.stroke_width(2);
        if line.dashed {
            chart.draw_series(DashedLineSeries::new(points.iter().copied(), 6, 4, style))?;
        } else {
            chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
        }
        // Points too while there are few, so that a run of one epoch shows its values.
        if points.len() <= MAX_MARKED_POINTS {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, line.color.filled())))?;
        }
    }
    if let Some(best) = best {
        let mark = RGBColor(0xd6, 0x27, 0x28);
        let vertical = [(best.epoch, y.0), (best.epoch, y.1)];
        chart.draw_series(DashedLineSeries::new(vertical, 4, 4, mark.stroke_width(1)))?;
        let ring = Circle::new((best.epoch, best.value), 6, mark.stroke_width(2));
        chart.draw_series(std::iter::once(ring))?;
    }
    Ok(())
}

/// Legend entries side by side: a short line (dashed for train) and the name; the best epoch
/// as a ring with its epoch and value.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    lines: &[Line],
    best: Option<&Best>,
) -> DrawResult<()> {
    let y = (LEGEND_H / 2) as i32;
    let style = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut x = 70;
    for line in lines.iter().filter(|l| !l.name.is_empty()) {
        let stroke = line.color.stroke_width(2);
        if line.dashed {
            area.draw(&PathElement::new([(x, y), (x + 8, y)], stroke))?;
            area.draw(&PathElement::new([(x + 13, y), (x + 21, y)], stroke))?;
        } else {
            area.draw(&PathElement::new([(x, y), (x + 21, y)], stroke))?;
        }
        area.draw(&Text::new(line.name.clone(), (x + 26, y), style.clone()))?;
        x += 34 + 7 * line.name.chars().count() as i32;
    }
    if let Some(best) = best {
        area.draw(&Circle::new((x + 6, y), 5, RGBColor(0xd6, 0x27, 0x28).stroke_width(2)))?;
        let text = format!("best: epoch {:.0} ({})", best.epoch, value_text(best.value));
        area.draw(&Text::new(text, (x + 16, y), style))?;
    }
    Ok(())
}

/// A tick label with the decimals that a tick `step` needs (scientific for tiny values).
fn tick(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if step < 1e-4 || v.abs() < 1e-4 {
        return format!("{v:.1e}");
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.decimals$}")
}

/// A tick label of a logarithmic axis: the decimals that its size needs.
fn log_tick(v: f64) -> String {
    if v < 1e-4 {
        return format!("{v:.0e}");
    }
    let decimals = (-v.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.decimals$}")
}

/// A value as a label: three decimals, scientific for tiny values.
fn value_text(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 { format!("{v:.2e}") } else { format!("{v:.3}") }
}

/// A horizontal bar chart of one value per label (e.g. score SRCC per run of a grid). `title`
/// is the chart's caption and `x_desc` the value axis's title; a `NaN` value gets no bar and
/// the note "no value".
pub fn bars_svg(title: &str, x_desc: &str, bars: &[(String, f64)]) -> Result<String> {
    let e = err("results.svg");
    // Names of grid cells may come from file names: controls and direction overrides shown
    // as escapes (a NUL is not even allowed in XML); plotters escapes the markup characters.
    let title = Shown::text(title).to_string();
    let names: Vec<String> = bars.iter().map(|b| Shown::text(&b.0).to_string()).collect();
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
    let label_w = (16 + 7 * longest).clamp(60, 420) as u32;
    let width = label_w + 560;
    let height = 110 + 26 * bars.len().max(1) as u32;
    let finite = || bars.iter().map(|b| b.1).filter(|v| v.is_finite());
    let lo = finite().fold(0.0f64, f64::min);
    let hi = finite().fold(1.0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        // One row [r, r + 1) per bar, row 0 at the bottom, named at its centre (drawn below:
        // plotters' own ticks would fall between rows).
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, (FONT, 15))
            .margin(10)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(label_w)
            .build_cartesian_2d(lo..hi, 0.0..n as f64)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_labels(0)
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
            .map_err(|x| e(&x))?;
        let value_style =
            TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let name_style = value_style.pos(Pos::new(HPos::Right, VPos::Center));
        // The first run at the top.
        for (i, ((_, v), name)) in bars.iter().zip(&names).enumerate() {
            let row = (n - 1 - i) as f64;
            let (axis_x, centre_y) = chart.backend_coord(&(lo, row + 0.5));
            let label = Text::new(name.clone(), (axis_x - 8, centre_y), name_style.clone());
            root.draw(&label).map_err(|x| e(&x))?;
            let text = if v.is_finite() {
                let bar = Rectangle::new(
                    [(0.0, row + 0.18), (*v, row + 0.82)],
                    COLORS[0].mix(0.85).filled(),
                );
                chart.draw_series(std::iter::once(bar)).map_err(|x| e(&x))?;
                value_text(*v)
            } else {
                "no value".into()
            };
            let at = (if v.is_finite() { v.max(0.0) } else { 0.0 }, row + 0.5);
            let (px, py) = chart.backend_coord(&at);
            root.draw(&Text::new(text, (px + 5, py), value_style.clone())).map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, score_loss: f64) -> EpochRecord {
        let split = |loss_score: f64| SplitMetrics {
            loss: -1.0 + loss_score,
            loss_score,
            loss_ai: 0.6,
            loss_sanity: 1.1,
            srcc: Some(0.5),
            ..Default::default()
        };
        EpochRecord {
            epoch,
            lr: 1e-3 / epoch as f64,
            seconds: 1.0,
            train: split(score_loss),
            validation: split(score_loss + 0.1),
        }
    }

    #[test]
    fn curves_have_titles_ticks_legend_and_the_best_epoch() {
        let history = [rec(1, 1.0), rec(2, 0.5), rec(3, 0.7)];
        let svg = curves_svg(&history, Monitor::ValScoreLoss, Some(2)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for text in
            ["epoch", "score loss: monitored (val-score-loss, lower is better)", "validation"]
        {
            assert!(svg.contains(text), "{text}");
        }
        if let Some(path) = std::env::var_os("ANIMESCORE_PLOT_SAMPLE") {
            std::fs::write(path, &svg).unwrap();
        }
        assert!(svg.contains("best: epoch 2 (0.600)"), "the best epoch and its value");
        assert!(svg.contains("learning rate") && svg.contains("sanity (val)"));
        // The tag loss is absent from every epoch: no legend entry for it.
        assert!(!svg.contains("tags (val)"));
        // Ticks: every epoch is labelled, not only the ends.
        for epoch in ["1", "2", "3"] {
            assert!(svg.contains(&format!(">\n{epoch}\n</text>")), "tick {epoch}");
        }
        // The weighted total (negative here) is not drawn unless it is monitored.
        assert!(!svg.contains("weighted total"));
        let srcc = curves_svg(&history, Monitor::ValSrcc, Some(1)).unwrap();
        assert!(srcc.contains("score SRCC: monitored (val-srcc, higher is better)"));
        assert!(curves_svg(&[], Monitor::ValScoreLoss, None).is_ok(), "no epoch yet");
    }

    #[test]
    fn bars_escape_names_and_mark_missing_values() {
        let svg = bars_svg("a<b", "SRCC", &[("x&y".into(), 0.5), ("y".into(), f64::NAN)]).unwrap();
        assert!(svg.contains("a&lt;b") && svg.contains("x&amp;y"));
        assert!(svg.contains("0.500") && svg.contains("no value"));
        // The background and one bar.
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        // A grid cell named after a file: no raw NUL (invalid XML) or direction override.
        let svg = bars_svg("t\u{202e}", "SRCC", &[("x\u{202e}\0".into(), 0.5)]).unwrap();
        assert!(svg.contains("x\\u{202e}\\0") && !svg.contains(['\0', '\u{202e}']), "{svg}");
    }
}
