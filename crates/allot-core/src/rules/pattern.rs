//! Case-insensitive glob patterns (`*` matches any run of characters) used
//! by every matcher.

/// A compiled pattern: lower-cased, trimmed, split at `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        let norm = text.trim().to_lowercase();
        let parts: Vec<String> = norm.split('*').map(str::to_string).collect();
        Pattern {
            anchored_start: !norm.starts_with('*'),
            anchored_end: !norm.ends_with('*'),
            parts: parts.into_iter().filter(|p| !p.is_empty()).collect(),
            text: norm,
        }
    }

    /// The pattern as written (normalised).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Matches an already normalised (trimmed, lower-cased) value.
    pub fn matches_normalised(&self, value: &str) -> bool {
        if !self.text.contains('*') {
            return self.text == value;
        }
        let mut rest = value;
        let n = self.parts.len();
        for (i, part) in self.parts.iter().enumerate() {
            if i == 0 && self.anchored_start {
                match rest.strip_prefix(part.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if i == n - 1 && self.anchored_end {
                return rest.len() >= part.len() && rest.ends_with(part.as_str());
            } else {
                match rest.find(part.as_str()) {
                    Some(at) => rest = &rest[at + part.len()..],
                    None => return false,
                }
            }
        }
        !self.anchored_end || rest.is_empty() || self.parts.is_empty()
    }

    /// Matches a raw value, normalising it first.
    pub fn matches(&self, value: &str) -> bool {
        self.matches_normalised(&normalise(value))
    }
}

/// Trim and lower-case: how every matched value is compared.
pub fn normalise(value: &str) -> String {
    let t = value.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        t.to_lowercase()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_case_insensitive() {
        assert!(Pattern::new("Amazon EC2").matches(" amazon ec2 "));
        assert!(!Pattern::new("Amazon EC2").matches("Amazon EC2 Spot"));
    }

    #[test]
    fn globs() {
        assert!(Pattern::new("amazon*").matches("Amazon EC2"));
        assert!(Pattern::new("*ec2").matches("Amazon EC2"));
        assert!(Pattern::new("*zon*c*").matches("Amazon EC2"));
        assert!(Pattern::new("a*b*c").matches("abc"));
        assert!(!Pattern::new("a*b*c").matches("abcd"));
        assert!(Pattern::new("a*a").matches("aa"));
        assert!(!Pattern::new("a*a").matches("a"));
        assert!(Pattern::new("*").matches(""));
        assert!(Pattern::new("arn:*:eks:*").matches("arn:aws:eks:us-east-1:1:cluster/x"));
    }
}
