//! A byte-based progress bar for large imports, drawn only on a terminal.

use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressStyle};

/// Files smaller than this import too fast to need a progress bar.
const MIN_BYTES_FOR_BAR: u64 = 32 * 1024 * 1024;

/// Whether to draw progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// A bar on stderr when it is a terminal and the file is large.
    Auto,
    /// Never draw (tests, scripts, servers).
    #[default]
    Hidden,
}

impl Progress {
    pub(crate) fn bar(self, name: &str, bytes: u64) -> ProgressBar {
        if self == Progress::Hidden || bytes < MIN_BYTES_FOR_BAR || !std::io::stderr().is_terminal()
        {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(bytes);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_string());
        bar
    }
}

/// Counts bytes read into a progress bar.
pub(crate) struct ProgressReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R> ProgressReader<R> {
    pub(crate) fn new(inner: R, bar: ProgressBar) -> Self {
        ProgressReader { inner, bar }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
