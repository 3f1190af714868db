//! The generated OpenAPI document as a contract: JSON bodies are checked
//! against its schemas with the `jsonschema` crate (OpenAPI 3.1 schemas are
//! JSON Schema 2020-12), every object closed to fields it does not list.

use serde_json::{Value, json};

/// The generated document, as JSON.
pub fn document() -> Value {
    serde_json::to_value(allot::http::doc::document()).expect("the document as JSON")
}

/// Checks a body against the component schema `name` of the document.
pub fn check(name: &str, v: &Value) {
    check_schema(&document(), name, v, name);
}

/// Marks every object schema with `properties` closed: a field the
/// document does not list is an error, not an extension.
fn closed(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(closed);
        }
        Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

/// Checks `v` against the component schema `name`.
pub fn check_schema(doc: &Value, name: &str, v: &Value, what: &str) {
    check_against(
        doc,
        &json!({"$ref": format!("#/components/schemas/{name}")}),
        v,
        what,
    );
}

/// Checks `v` against `schema`, whose `$ref`s point into the document's
/// components; formats (`date`, `date-time`) are checked too.
pub fn check_against(doc: &Value, schema: &Value, v: &Value, what: &str) {
    let mut root = schema.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = doc["components"].clone();
    closed(&mut root["components"]);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\nin {v:#}");
}
