//! How values the domain holds are encoded in columns: tags as canonical
//! JSON. These encodings are the store's; nothing outside it reads them.

use std::collections::BTreeMap;

use crate::domain::Tags;

/// Tags as canonical JSON (keys sorted, every value a string), the stored form.
pub(crate) fn tags_to_json(tags: &Tags) -> String {
    serde_json::to_string(&tags.0).unwrap_or_else(|_| "{}".to_string())
}

/// Stored tags back; the error says what the column held instead.
pub(crate) fn tags_from_json(s: &str) -> Result<Tags, String> {
    serde_json::from_str::<BTreeMap<String, String>>(s)
        .map(Tags)
        .map_err(|e| format!("a JSON object of string tags ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_through_their_stored_form() {
        let tags = Tags(BTreeMap::from([
            (" org".to_string(), "x\"y".to_string()),
            ("n".to_string(), "3".to_string()),
            ("z".to_string(), String::new()),
        ]));
        let json = tags_to_json(&tags);
        assert_eq!(json, r#"{" org":"x\"y","n":"3","z":""}"#);
        assert_eq!(tags_from_json(&json).unwrap(), tags);
        assert!(tags_from_json("[1]").is_err());
        assert!(tags_from_json(r#"{"n": 3}"#).is_err());
    }
}
