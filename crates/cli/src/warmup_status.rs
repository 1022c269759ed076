//! The status line shown while a GPU backend compiles and tunes its kernels: the first steps
//! of a model on a device can take minutes, and without it `train --device cuda` looks hung.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use animescore_run::{KernelActivity, kernel_activity};
use animescore_training::Warmup;
use indicatif::{ProgressBar, ProgressStyle};

/// How often the line is refreshed on a terminal.
const REFRESH: Duration = Duration::from_millis(250);
/// How often a line is printed when stderr is not a terminal (a log file).
const LOG_EVERY: Duration = Duration::from_secs(15);
/// A step that has compiled or tuned nothing yet is announced as kernel preparation after this.
const ANNOUNCE_AFTER: Duration = Duration::from_secs(3);

/// A live status line, from [`WarmupStatus::start`] until dropped or finished.
pub struct WarmupStatus {
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl WarmupStatus {
    /// Starts the line for `what` (e.g. "first training step").
    pub fn start(what: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let ticker = std::thread::Builder::new()
            .name("animescore-warmup-status".into())
            .spawn(move || tick(what, &flag))
            .ok();
        Self { stop, ticker }
    }

    /// Stops the line.
    pub fn finish(mut self) {
        self.stop_ticker();
    }

    fn stop_ticker(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

impl Drop for WarmupStatus {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

fn tick(what: &str, stop: &AtomicBool) {
    let started = Instant::now();
    let before = kernel_activity();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut last_log = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(REFRESH);
        let gained = before.zip(kernel_activity()).map(|(b, a)| a.since(b));
        let line = status_line(what, started.elapsed(), gained);
        match &bar {
            Some(bar) => {
                bar.set_message(line);
                bar.tick();
            }
            None if last_log.elapsed() >= LOG_EVERY => {
                eprintln!("{line}");
                last_log = Instant::now();
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// `preparing GPU kernels (…): 12 s, 40 kernels compiled, 7 operations tuned`.
fn status_line(what: &str, elapsed: Duration, gained: Option<KernelActivity>) -> String {
    let busy = gained.is_some_and(|g| g.tuned > 0 || g.compiled.is_some_and(|c| c > 0));
    let head = if busy || elapsed >= ANNOUNCE_AFTER {
        "preparing GPU kernels (first run of this model on this device; cached for later runs)"
    } else {
        what
    };
    format!("{head}: {:.0} s{}", elapsed.as_secs_f64(), counts(gained))
}

/// `, 40 kernels compiled, 7 operations tuned` (what the backend reports).
pub fn counts(gained: Option<KernelActivity>) -> String {
    let Some(g) = gained else { return String::new() };
    let compiled = g.compiled.map(|c| format!(", {c} kernels compiled")).unwrap_or_default();
    format!("{compiled}, {} operations tuned", g.tuned)
}

/// One line on how the first step went.
pub fn summary(warmup: &Warmup) -> String {
    format!("first training step done in {:.1} s{}", warmup.seconds, counts(warmup.kernels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_kernels_only_when_there_is_work() {
        let idle = Some(KernelActivity { compiled: Some(0), tuned: 0 });
        let quick = status_line("first training step", Duration::from_secs(1), idle);
        assert_eq!(quick, "first training step: 1 s, 0 kernels compiled, 0 operations tuned");
        let busy = Some(KernelActivity { compiled: Some(40), tuned: 7 });
        let line = status_line("first training step", Duration::from_secs(12), busy);
        assert!(line.starts_with("preparing GPU kernels"), "{line}");
        assert!(line.ends_with("12 s, 40 kernels compiled, 7 operations tuned"), "{line}");
        let cpu = Some(KernelActivity { compiled: None, tuned: 3 });
        assert_eq!(counts(cpu), ", 3 operations tuned");
        assert_eq!(counts(None), "");
    }
}
