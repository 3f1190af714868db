//! Query parameters, parsed strictly: a bad or unknown parameter is a 400
//! that names it.

use std::collections::HashMap;

use super::ApiError;

/// The longest value a query parameter may have: none that is valid comes
/// near it, and an error never echoes more than this.
pub const MAX_VALUE_BYTES: usize = 1024;

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
            let unknown: String = unknown.chars().take(64).collect();
            return Err(ApiError::bad(
                &unknown,
                format!(
                    "unknown parameter; this endpoint accepts {}",
                    allowed.join(", ")
                ),
            ));
        }
        if let Some((name, value)) = map.iter().find(|(_, v)| v.len() > MAX_VALUE_BYTES) {
            return Err(ApiError::bad(
                name,
                format!(
                    "is {} bytes long; expected at most {MAX_VALUE_BYTES}",
                    value.len()
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

/// A path parameter's value, at most [`MAX_VALUE_BYTES`] long.
pub fn path(
    name: &str,
    value: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    let axum::extract::Path(value) = value.map_err(|e| super::error::path_rejection(name, e))?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::bad(
            name,
            format!(
                "is {} bytes long; expected at most {MAX_VALUE_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(value)
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

/// A count parameter (`limit`) of `1..=max`.
pub fn count(max: u32) -> impl Fn(&str) -> Result<u32, String> {
    move |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or(format!("expected a number from 1 to {max}, found `{s}`"))
    }
}

/// The query parameters several endpoints share, as the document shows
/// them (`params(MonthParam, ...)` in a handler's `#[utoipa::path]`). The
/// handlers read them through [`Params`]; these types only document them.
pub mod doc {
    #![allow(dead_code)]

    /// `month`.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct MonthParam {
        /// The allocated month (UTC), `YYYY-MM`.
        #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2024-09")]
        month: String,
    }

    /// `period`.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct PeriodParam {
        /// Which costs make the month. `charge` (the default): the costs
        /// charged in the month, at the allocation's cost basis. `billing`:
        /// the costs of the invoice whose billing period starts in the
        /// month, whichever month they were charged in, at billed cost
        /// (FOCUS `BilledCost`), so that they add up to the invoice.
        #[param(pattern = "^(charge|billing)$", example = "charge")]
        period: Option<String>,
    }

    /// `format`.
    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Query)]
    pub struct FormatParam {
        /// `json` or `csv`. When absent, CSV is chosen if the `Accept`
        /// header contains `text/csv`, JSON otherwise.
        #[param(pattern = "^(json|csv)$", example = "json")]
        format: Option<String>,
    }
}
