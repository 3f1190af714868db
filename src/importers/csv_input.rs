//! CSV input shared by the importers: a reader that sits under the `csv`
//! crate, bounds every record, writes CRLF (and lone CR) line endings as LF,
//! and tells the file line each record starts on.
//!
//! Why not the crate's own positions: on CRLF files (Excel, Azure and
//! Python exports) `csv` reports the line before the record's (its issue
//! BurntSushi/rust-csv#395), and it does not count the newlines of quoted
//! fields. So [`CsvInput`] counts file lines itself as bytes pass and
//! queues each record's first line; [`CsvFile`] pairs them with the records
//! `csv` returns and sets each record's position to it.
//!
//! Records are delimited as RFC 4180 says (a line break outside double
//! quotes; blank lines hold no record), which is how `csv` reads them with
//! its defaults. A record longer than [`Limits::max_record_bytes`] fails the
//! read with its first line, before it is held in memory, so a gzip bomb of
//! one endless line costs no more than the limit.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::ImportError;

/// The bounds an import enforces on its input (`[import]` in `allot.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest record (row) accepted, in bytes, line endings included.
    pub max_record_bytes: u64,
    /// The longest single cell accepted, in bytes.
    pub max_field_bytes: usize,
}

impl Limits {
    /// 1 MiB per row.
    pub const DEFAULT_MAX_RECORD_BYTES: u64 = 1 << 20;
    /// 64 KiB per cell: AWS allows 50 tags of at most 128 + 256 characters
    /// per resource (about 20 KB of JSON), Azure and Google Cloud less.
    pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 << 10;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
            max_field_bytes: Self::DEFAULT_MAX_FIELD_BYTES,
        }
    }
}

/// The error a [`CsvInput`] raises for an overlong record; the importers
/// turn it into [`super::ImportError::TooLong`].
#[derive(Debug, thiserror::Error)]
#[error("line {line}: a record longer than {limit} bytes")]
pub struct RecordTooLong {
    pub line: u64,
    pub limit: u64,
}

/// Normalises line endings and bounds records (see the module comment).
pub struct CsvInput<R> {
    inner: R,
    limit: u64,
    in_quotes: bool,
    /// A `\r` outside quotes ended the previous read: it is dropped if the
    /// next byte is `\n`, written otherwise.
    pending_cr: bool,
    /// A byte read but not yet returned (reads of one byte).
    spill: Option<u8>,
    /// Bytes of the record being read so far.
    record_bytes: u64,
    /// The file line the current byte is on, and the one its record began on.
    line: u64,
    record_line: u64,
    /// The first line of each record read and not yet paired with it.
    starts: Arc<Mutex<VecDeque<u64>>>,
}

impl<R: Read> CsvInput<R> {
    pub fn new(inner: R, limits: Limits) -> Self {
        CsvInput {
            inner,
            limit: limits.max_record_bytes,
            in_quotes: false,
            pending_cr: false,
            spill: None,
            record_bytes: 0,
            line: 1,
            record_line: 1,
            starts: Arc::default(),
        }
    }
}

impl<R: Read> CsvInput<R> {
    /// Rewrites `buf` in place (dropping the `\r` of each `\r\n` outside
    /// quotes) and counts records; returns the bytes kept. A `\r` outside
    /// quotes at the end of `buf` is held back unless the input ended.
    fn transform(&mut self, buf: &mut [u8], eof: bool) -> std::io::Result<usize> {
        let n = buf.len();
        let mut w = 0;
        let mut i = 0;
        while i < n {
            // Bytes up to the next line end, in one step: only the parity of
            // their quotes matters (`""` inside a quoted cell toggles twice).
            let run = memchr::memchr2(b'\n', b'\r', &buf[i..]).unwrap_or(n - i);
            if run > 0 {
                if self.record_bytes == 0 {
                    self.record_starts(self.record_line)?;
                }
                if memchr::memchr_iter(b'"', &buf[i..i + run]).count() % 2 == 1 {
                    self.in_quotes = !self.in_quotes;
                }
                self.count(run as u64)?;
                if w != i {
                    buf.copy_within(i..i + run, w);
                }
                w += run;
                i += run;
                continue;
            }
            let mut b = buf[i];
            i += 1;
            if b == b'\r' && !self.in_quotes {
                if i == n && !eof {
                    // Decided on the next read, when the next byte is known.
                    self.pending_cr = true;
                    break;
                }
                if i < n && buf[i] == b'\n' {
                    continue;
                }
                // A lone CR ends a line, as it does for `csv`.
                b = b'\n';
            }
            if b == b'\n' {
                self.line += 1;
                if !self.in_quotes {
                    buf[w] = b;
                    w += 1;
                    self.record_bytes = 0;
                    self.record_line = self.line;
                    continue;
                }
            }
            if self.record_bytes == 0 {
                self.record_starts(self.record_line)?;
            }
            self.count(1)?;
            buf[w] = b;
            w += 1;
        }
        Ok(w)
    }

    fn record_starts(&self, line: u64) -> std::io::Result<()> {
        self.starts
            .lock()
            .map_err(|_| std::io::Error::other("record positions poisoned"))?
            .push_back(line);
        Ok(())
    }

    /// Adds `bytes` to the record being read, failing past the limit.
    fn count(&mut self, bytes: u64) -> std::io::Result<()> {
        self.record_bytes += bytes;
        if self.record_bytes > self.limit {
            return Err(std::io::Error::other(RecordTooLong {
                line: self.record_line,
                limit: self.limit,
            }));
        }
        Ok(())
    }
}

impl<R: Read> Read for CsvInput<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some(b) = self.spill.take() {
            out[0] = b;
            return Ok(1);
        }
        if out.len() == 1 {
            // Room for a held-back `\r` and the byte after it.
            let mut two = [0u8; 2];
            let n = self.read(&mut two)?;
            if n == 2 {
                self.spill = Some(two[1]);
            }
            out[0] = two[0];
            return Ok(n.min(1));
        }
        loop {
            let (n, eof) = if self.pending_cr {
                self.pending_cr = false;
                out[0] = b'\r';
                let m = self.inner.read(&mut out[1..])?;
                (m + 1, m == 0)
            } else {
                match self.inner.read(out)? {
                    0 => return Ok(0),
                    m => (m, false),
                }
            };
            let kept = self.transform(&mut out[..n], eof)?;
            if kept > 0 {
                return Ok(kept);
            }
            // Only a held-back `\r` came: read on rather than report the end.
        }
    }
}

/// A CSV file being read: records come with the file line they start on.
pub struct CsvFile<R: Read> {
    path: PathBuf,
    csv: csv::Reader<CsvInput<R>>,
    starts: Arc<Mutex<VecDeque<u64>>>,
    headers: csv::StringRecord,
    limits: Limits,
}

impl<R: Read> CsvFile<R> {
    /// Starts reading `input` (the contents of `path`) and reads its header
    /// row; an empty file is refused.
    pub fn open(path: &Path, input: R, limits: Limits) -> Result<Self, ImportError> {
        let input = CsvInput::new(input, limits);
        let starts = input.starts.clone();
        let mut file = CsvFile {
            path: path.to_path_buf(),
            csv: csv::ReaderBuilder::new().flexible(false).from_reader(input),
            starts,
            headers: csv::StringRecord::new(),
            limits,
        };
        file.headers = match file.csv.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(file.error(e, false)),
        };
        file.next_start();
        super::ensure_header(path, &file.headers)?;
        Ok(file)
    }

    pub fn headers(&self) -> &csv::StringRecord {
        &self.headers
    }

    /// Reads the next record into `record` (`false` at the end): its
    /// position is its first file line; a cell over the limit is refused.
    pub fn read(&mut self, record: &mut csv::StringRecord) -> Result<bool, ImportError> {
        match self.csv.read_record(record) {
            Ok(false) => Ok(false),
            Ok(true) => {
                let line = self.next_start().unwrap_or(0);
                let mut position = csv::Position::new();
                position.set_line(line);
                record.set_position(Some(position));
                if let Some(i) = overlong_field(record, self.limits.max_field_bytes) {
                    return Err(ImportError::FieldTooLong {
                        path: self.path.clone(),
                        line,
                        column: self.column_name(i),
                        limit: self.limits.max_field_bytes,
                    });
                }
                Ok(true)
            }
            Err(e) => Err(self.error(e, true)),
        }
    }

    fn next_start(&self) -> Option<u64> {
        self.starts.lock().ok()?.pop_front()
    }

    fn column_name(&self, i: usize) -> String {
        self.headers
            .get(i)
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
            .unwrap_or_else(|| format!("#{}", i + 1))
    }

    /// A `csv` error as an import error at the line of the record it is
    /// about (the next one not yet returned).
    fn error(&self, e: csv::Error, with_headers: bool) -> ImportError {
        let line = self
            .starts
            .lock()
            .ok()
            .and_then(|s| s.front().copied())
            .unwrap_or(0);
        let path = self.path.clone();
        if let Some(long) = too_long(&e) {
            return ImportError::RecordTooLong {
                path,
                line: long.line,
                limit: long.limit,
            };
        }
        match e.kind() {
            csv::ErrorKind::Io(_) => ImportError::Io {
                path,
                source: std::io::Error::other(e.to_string()),
            },
            csv::ErrorKind::Utf8 { err, .. } => ImportError::Value {
                path,
                line,
                column: if with_headers {
                    self.column_name(err.field())
                } else {
                    format!("#{}", err.field() + 1)
                },
                expected: "UTF-8 text (re-export the file as UTF-8)".to_string(),
                found: "bytes that are not UTF-8".to_string(),
            },
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => ImportError::FieldCount {
                path,
                line,
                expected: *expected_len,
                found: *len,
            },
            _ => ImportError::Csv {
                path,
                line,
                message: e.to_string(),
            },
        }
    }
}

/// The overlong record behind a CSV error, if that is what it is.
fn too_long(e: &csv::Error) -> Option<&RecordTooLong> {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref()?.downcast_ref::<RecordTooLong>(),
        _ => None,
    }
}

/// The first cell of `record` longer than `max` bytes, if any (cheap when
/// the whole record is shorter).
fn overlong_field(record: &csv::StringRecord, max: usize) -> Option<usize> {
    if record.as_slice().len() <= max {
        return None;
    }
    record.iter().position(|f| f.len() > max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` through a `CsvInput` in reads of `chunk` bytes.
    fn through(input: &[u8], chunk: usize, limits: Limits) -> std::io::Result<Vec<u8>> {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = CsvInput::new(Chunks(input, chunk), limits);
        let mut all = Vec::new();
        r.read_to_end(&mut all)?;
        Ok(all)
    }

    #[test]
    fn crlf_becomes_lf_outside_quotes_in_any_chunking() {
        let input = b"a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z\r\n";
        for chunk in 1..=input.len() {
            assert_eq!(
                through(input, chunk, Limits::default()).unwrap(),
                b"a,b\n1,\"x\r\ny\"\n\n2,z\n",
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_outside_quotes() {
        for chunk in 1..=8 {
            assert_eq!(
                through(b"a\rb\"\r\"\r", chunk, Limits::default()).unwrap(),
                b"a\nb\"\r\"\n"
            );
        }
    }

    fn lines_of(input: &[u8]) -> Vec<u64> {
        let mut file = CsvFile::open(Path::new("t.csv"), input, Limits::default()).unwrap();
        let mut record = csv::StringRecord::new();
        let mut lines = Vec::new();
        while file.read(&mut record).unwrap() {
            lines.push(record.position().unwrap().line());
        }
        lines
    }

    #[test]
    fn record_lines_are_file_lines_with_any_line_ending() {
        // Records on file lines 2, 3 (a quoted newline, continuing on 4), 6 (after a blank line).
        for nl in ["\n", "\r\n"] {
            let text = format!("h1,h2{nl}1,a{nl}2,\"b{nl}c\"{nl}{nl}3,d{nl}{nl}");
            assert_eq!(lines_of(text.as_bytes()), vec![2, 3, 6], "{nl:?}");
        }
        // Classic Mac line ends (a quoted lone CR is text, not a line end).
        assert_eq!(lines_of(b"h1,h2\r1,a\r\r3,\"d\re\"\r"), vec![2, 4]);
    }

    #[test]
    fn an_endless_record_fails_at_the_limit_with_its_line() {
        let limits = Limits {
            max_record_bytes: 100,
            ..Limits::default()
        };
        let mut input = b"a,b\n1,2\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        let e = through(&input, 4096, limits).unwrap_err();
        let e = e
            .get_ref()
            .unwrap()
            .downcast_ref::<RecordTooLong>()
            .unwrap();
        assert_eq!((e.line, e.limit), (3, 100));
        // An open quote spanning many short lines is one record.
        let mut quoted = b"a,b\n1,\"".to_vec();
        quoted.extend(b"x\n".repeat(1000));
        let e = through(&quoted, 4096, limits).unwrap_err();
        let e = e
            .get_ref()
            .unwrap()
            .downcast_ref::<RecordTooLong>()
            .unwrap();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn overlong_fields_are_found() {
        let r = csv::StringRecord::from(vec!["ab", "abcdef", "x"]);
        assert_eq!(overlong_field(&r, 5), Some(1));
        assert_eq!(overlong_field(&r, 6), None);
    }
}
