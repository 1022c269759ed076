//! Progress display: an indicatif bar on a terminal, nothing otherwise.

use std::io::IsTerminal;

use animescore_dataset::{IngestProgress, Problem};
use animescore_fs::Shown;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws ingest progress and prints each skipped input as it happens.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar when stderr is a terminal.
    pub fn new(what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            // Hidden until `start`: a bar created ahead of its work stays off the screen.
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_message(what);
            bar
        });
        Self { bar }
    }

    /// Prints a line above the bar (or to stderr without one).
    fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl IngestProgress for Bar {
    fn start(&self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn advance(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }

    fn problem(&self, p: &Problem) {
        self.println(format!("skipped {}: {}", Shown::path(&p.path), Shown::text(&p.reason)));
    }
}

impl animescore_pipeline::CacheProgress for Bar {
    fn start(&self, todo: usize) {
        if let Some(bar) = &self.bar {
            // The same bar serves the image and then the feature cache.
            bar.reset();
            bar.set_length(todo as u64);
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn finish(&self) {
        Bar::finish(self);
    }

    fn advance(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn failed(&self, path: &std::path::Path, reason: &str) {
        self.println(format!("skipped {}: {}", Shown::path(path), Shown::text(reason)));
    }
}

/// `--no-cache` and `--cache-dir` of `train` and `eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct CacheArgs {
    /// Decode every image every epoch instead of keeping resized copies.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Where to keep resized copies of the images [default: DATASET/.database/cache].
    #[arg(long)]
    pub cache_dir: Option<std::path::PathBuf>,
}

impl CacheArgs {
    /// The library's choice.
    pub fn choice(&self) -> animescore_pipeline::CacheChoice {
        use animescore_pipeline::CacheChoice;
        match (&self.cache_dir, self.no_cache) {
            (_, true) => CacheChoice::Off,
            (Some(dir), false) => CacheChoice::Dir(dir.clone()),
            (None, false) => CacheChoice::Dataset,
        }
    }
}

impl animescore_inference::PredictProgress for Bar {
    fn start(&self, todo: usize) {
        IngestProgress::start(self, todo);
    }

    fn advance(&self, n: usize) {
        IngestProgress::advance(self, n);
    }

    fn failed(&self, path: &std::path::Path, reason: &str) {
        self.println(format!("skipped {}: {}", Shown::path(path), Shown::text(reason)));
    }
}

impl animescore_gallery::GalleryProgress for Bar {
    fn start(&self, total: usize) {
        IngestProgress::start(self, total);
    }

    fn advance(&self) {
        IngestProgress::advance(self, 1);
    }
}

/// A byte bar for a weights download on a terminal; one line per download otherwise.
pub struct DownloadBar {
    bar: Option<ProgressBar>,
}

impl DownloadBar {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self { bar }
    }
}

impl animescore_backbones::DownloadProgress for DownloadBar {
    fn start(&self, url: &str, bytes: Option<u64>) {
        let file = url.rsplit('/').next().unwrap_or(url);
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("downloading {file}"));
                bar.set_length(bytes.unwrap_or(0));
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            None => eprintln!("downloading {url}"),
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
