//! Rule-file diagnostics: `file:line:col`, the offending text, and a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending source text (its first line).
    pub snippet: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Locates `span` (byte offsets) in `source`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(source.len());
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = source[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, source.len());
        let mut snippet = source[start..end]
            .lines()
            .next()
            .unwrap_or("")
            .trim_end()
            .to_string();
        if snippet.is_empty() {
            snippet = source[line_start..]
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
        }
        if snippet.chars().count() > 100 {
            snippet = snippet.chars().take(97).collect::<String>() + "...";
        }
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            snippet,
            hint,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )?;
        if !self.snippet.is_empty() {
            write!(f, "\n    | {}", self.snippet)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n    = help: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a rule set; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleErrors(pub Vec<Diagnostic>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest candidate to `word` by edit distance, if reasonably close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let src = "a = 1\nbb = \"xyz\"\n";
        let d = Diagnostic::at(
            Path::new("f.toml"),
            src,
            Some(11..16),
            "bad",
            Some("fix it".into()),
        );
        assert_eq!((d.line, d.column, d.snippet.as_str()), (2, 6, "\"xyz\""));
        assert_eq!(
            d.to_string(),
            "f.toml:2:6: bad\n    | \"xyz\"\n    = help: fix it"
        );
    }

    #[test]
    fn suggests_close_words() {
        assert_eq!(closest("servce", ["service", "region"]), Some("service"));
        assert_eq!(closest("zzz", ["service", "region"]), None);
    }
}
