//! How far an import has come, on standard error: a progress bar with the rate and the time
//! left on a terminal (indicatif), plain lines every few seconds otherwise (a log file, a CI
//! job), so a long import is never silent and a pipe never fills with redraws.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where an import stands.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Position {
    /// Lines holding a record read so far.
    pub read: u64,
    pub refused: u64,
    /// Bytes of the input consumed so far.
    pub bytes: u64,
}

/// How often a plain progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub(super) enum Progress {
    Bar { bar: ProgressBar, started: Instant },
    Plain(Plain),
}

pub(super) struct Plain {
    started: Instant,
    last: Instant,
    /// The input's size, when known (a file; not a pipe).
    total_bytes: Option<u64>,
}

impl Progress {
    /// A bar when standard error is a terminal, plain lines otherwise. `total_bytes` is the
    /// input's size when known: with it, the bar fills and the time left is estimated.
    pub fn new(total_bytes: Option<u64>) -> Self {
        let started = Instant::now();
        if !std::io::stderr().is_terminal() {
            return Progress::Plain(Plain {
                started,
                last: started,
                total_bytes,
            });
        }
        let bar = ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr());
        let template = match total_bytes {
            Some(_) => "{elapsed_precise} [{wide_bar}] {percent:>3}% {msg}, {eta} left",
            None => "{spinner} {elapsed_precise} {msg}",
        };
        // The templates are fixed and valid; a bad one would only lose the bar's style.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress::Bar { bar, started }
    }

    pub fn update(&mut self, at: Position) {
        match self {
            Progress::Bar { bar, started } => {
                bar.set_position(at.bytes);
                bar.set_message(describe(at, started.elapsed()));
            }
            Progress::Plain(plain) => {
                if plain.last.elapsed() >= PLAIN_EVERY {
                    plain.last = Instant::now();
                    eprintln!("import: {}", plain.line(at, plain.started.elapsed()));
                }
            }
        }
    }

    /// Prints a note (a refused line) without breaking the bar.
    pub fn note(&self, text: &str) {
        match self {
            Progress::Bar { bar, .. } => bar.suspend(|| eprintln!("{text}")),
            Progress::Plain(_) => eprintln!("{text}"),
        }
    }

    /// Takes the bar off the terminal (the summary follows).
    pub fn finish(self) {
        if let Progress::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

impl Plain {
    fn line(&self, at: Position, elapsed: Duration) -> String {
        let mut line = describe(at, elapsed);
        if let Some(total) = self.total_bytes.filter(|total| *total > 0) {
            let done = at.bytes as f64 / total as f64;
            line.push_str(&format!(", {:.0}% of the file", done * 100.0));
            if done > 0.0 {
                let left = elapsed.as_secs_f64() * (1.0 - done) / done;
                line.push_str(&format!(", about {} left", whole_seconds(left)));
            }
        }
        line
    }
}

/// `123456 lines, 45210 lines/s, 12 refused`
fn describe(at: Position, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        at.read as f64 / seconds
    } else {
        0.0
    };
    format!(
        "{} lines, {rate:.0} lines/s, {} refused",
        at.read, at.refused
    )
}

fn whole_seconds(seconds: f64) -> String {
    humantime::format_duration(Duration::from_secs(seconds.ceil() as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_the_count_the_rate_and_the_time_left() {
        let plain = Plain {
            started: Instant::now(),
            last: Instant::now(),
            total_bytes: Some(1000),
        };
        let at = Position {
            read: 50_000,
            refused: 3,
            bytes: 250,
        };
        let line = plain.line(at, Duration::from_secs(10));
        assert!(
            line.starts_with("50000 lines, 5000 lines/s, 3 refused, 25% of the file, about "),
            "{line}"
        );
        assert!(line.ends_with("30s left"), "{line}");
    }
}
