//! Owned, plain data values: what crosses session and shard boundaries.
//!
//! Event data, `<param>` values, `<content>`, `<donedata>` and `baton run` input are all
//! [`Value`]s. A datamodel converts them to and from its own representation; XML content
//! stays XML text ([`Value::Xml`]) so that a receiving ECMAScript datamodel can build a DOM.

/// The largest integer an IEEE 754 double holds exactly (ECMAScript's
/// `Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A plain data value. Object keys keep insertion order.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// ECMAScript `undefined`; also "no data".
    #[default]
    Undefined,
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (IEEE 754 double, as in ECMAScript and JSON).
    Number(f64),
    /// A string.
    String(Box<str>),
    /// An ordered list.
    Array(Vec<Value>),
    /// An ordered map from names to values.
    Object(Vec<(Box<str>, Value)>),
    /// An XML fragment, as text (from `<content>` or `<data>` with element children).
    Xml(Box<str>),
}

impl Value {
    /// The heap the value holds, in bytes: one `Value` per node plus its strings. Walks an
    /// explicit stack, as values come from clients and can be deep.
    pub fn heap_bytes(&self) -> u64 {
        let node = std::mem::size_of::<Value>() as u64;
        let mut bytes = 0;
        let mut stack = vec![self];
        while let Some(value) = stack.pop() {
            bytes += node;
            match value {
                Value::String(s) | Value::Xml(s) => bytes += s.len() as u64,
                Value::Array(items) => stack.extend(items.iter()),
                Value::Object(fields) => {
                    for (key, item) in fields {
                        bytes += key.len() as u64;
                        stack.push(item);
                    }
                }
                Value::Undefined | Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        bytes
    }

    /// Converts parsed JSON into a value.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.as_str().into(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts the value to JSON. `undefined` becomes `null`; XML becomes its text.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Undefined | Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            // Whole numbers print as integers (`105`, not `105.0`), as ECMAScript prints them.
            Value::Number(n) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER => {
                serde_json::Value::Number(serde_json::Number::from(*n as i64))
            }
            Value::Number(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) | Value::Xml(s) => serde_json::Value::String(s.to_string()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The field `name` of an object value.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| &**k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}
