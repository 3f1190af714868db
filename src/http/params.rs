//! Query parameters, parsed strictly: a bad or unknown parameter is a 400
//! that names it.

use std::collections::HashMap;

use super::ApiError;

/// The raw query of one request, with the names the endpoint accepts.
pub struct Params {
    map: HashMap<String, String>,
}

impl Params {
    /// Checks the query's pairs: each name known to the endpoint, and given once.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut map = HashMap::new();
        for (name, value) in pairs {
            if map.contains_key(&name) {
                return Err(ApiError::bad(
                    &name,
                    "is given more than once; give it once",
                ));
            }
            map.insert(name, value);
        }
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad(
                unknown,
                format!(
                    "unknown parameter; this endpoint accepts {}",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Params { map })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Parses a required parameter.
    pub fn required<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, ApiError> {
        let raw = self
            .get(name)
            .ok_or_else(|| ApiError::bad(name, "is required"))?;
        parse(raw).map_err(|e| ApiError::bad(name, e.to_string()))
    }

    /// Parses an optional parameter.
    pub fn optional<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|raw| parse(raw).map_err(|e| ApiError::bad(name, e.to_string())))
            .transpose()
    }
}

/// An ISO 8601 date (`YYYY-MM-DD`).
pub fn date(s: &str) -> Result<chrono::NaiveDate, String> {
    if !crate::domain::month::is_day_shaped(s) {
        return Err(format!("expected a date as `YYYY-MM-DD`, found `{s}`"));
    }
    crate::domain::month::parse_day(s).ok_or_else(|| {
        format!("expected a date as `YYYY-MM-DD` in the years 2000 to 2099, found `{s}`")
    })
}
