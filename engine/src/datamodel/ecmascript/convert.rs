//! Conversions between plain [`Value`]s and JavaScript values.
//!
//! Both directions walk with an explicit stack, never recursion, because the data comes
//! from outside (events, scripts) and may be deep or cyclic; nesting deeper than
//! [`DEPTH_MAX`] or more than [`NODES_MAX`] values is refused with a `RangeError`.
//! JS → `Value` follows `JSON.stringify`: object keys keep their order, `toJSON` is honoured,
//! functions, symbols and `undefined` are dropped from objects and become `null` in arrays.
//! XML values become DOM documents ([`super::dom`]) and DOM nodes become XML text again.

use rquickjs::convert::Coerced;
use rquickjs::object::{Filter, Property};
use rquickjs::{Array, Ctx, Exception, FromJs, Function, Object, Result, Type, Value as JsValue};

use super::dom;
use super::realm::Helpers;
use crate::value::Value;

/// Deepest nesting converted, in containers.
pub(crate) const DEPTH_MAX: usize = 256;
/// Most values (leaves and containers) converted in one conversion.
pub(crate) const NODES_MAX: usize = 1 << 20;

/// Converts a plain value into a JavaScript value.
pub(crate) fn to_js<'js>(ctx: &Ctx<'js>, helpers: &Helpers, value: &Value) -> Result<JsValue<'js>> {
    let (root, fill) = open_js(ctx, helpers, value)?;
    let mut stack: Vec<Fill<'_, 'js>> = fill.into_iter().collect();
    let mut nodes = 1usize;
    while let Some(top) = stack.last_mut() {
        let (dst, key, item) = match top {
            Fill::List { dst, items, next } => match items.next() {
                Some(item) => {
                    *next += 1;
                    (dst.clone(), Key::Index(*next - 1), item)
                }
                None => {
                    stack.pop();
                    continue;
                }
            },
            Fill::Map { dst, fields } => match fields.next() {
                Some((name, item)) => (dst.clone(), Key::Name(name), item),
                None => {
                    stack.pop();
                    continue;
                }
            },
        };
        nodes += 1;
        if nodes > NODES_MAX {
            return Err(Exception::throw_range(ctx, "value has too many elements"));
        }
        let (js, fill) = open_js(ctx, helpers, item)?;
        let prop = Property::from(js).writable().enumerable().configurable();
        match key {
            Key::Index(i) => dst.prop(i, prop)?,
            Key::Name(name) => dst.prop(name, prop)?,
        }
        if let Some(fill) = fill {
            if stack.len() >= DEPTH_MAX {
                return Err(Exception::throw_range(ctx, "value is nested too deeply"));
            }
            stack.push(fill);
        }
    }
    Ok(root)
}

/// A JS container being filled from a plain value.
enum Fill<'a, 'js> {
    List {
        dst: Object<'js>,
        items: std::slice::Iter<'a, Value>,
        next: u32,
    },
    Map {
        dst: Object<'js>,
        fields: std::slice::Iter<'a, (Box<str>, Value)>,
    },
}

enum Key<'a> {
    Index(u32),
    Name(&'a str),
}

/// The JS value for `value`; for a container, an empty one and what fills it.
fn open_js<'a, 'js>(
    ctx: &Ctx<'js>,
    helpers: &Helpers,
    value: &'a Value,
) -> Result<(JsValue<'js>, Option<Fill<'a, 'js>>)> {
    let leaf = |v: JsValue<'js>| Ok((v, None));
    match value {
        Value::Undefined => leaf(JsValue::new_undefined(ctx.clone())),
        Value::Null => leaf(JsValue::new_null(ctx.clone())),
        Value::Bool(b) => leaf(JsValue::new_bool(ctx.clone(), *b)),
        Value::Number(n) => leaf(JsValue::new_number(ctx.clone(), *n)),
        Value::String(s) => leaf(rquickjs::String::from_str(ctx.clone(), s)?.into_value()),
        Value::Xml(text) => leaf(dom::to_dom(ctx, helpers, text)?),
        Value::Array(items) => {
            let dst = Array::new(ctx.clone())?.into_object();
            let fill = Fill::List {
                dst: dst.clone(),
                items: items.iter(),
                next: 0,
            };
            Ok((dst.into_value(), Some(fill)))
        }
        Value::Object(fields) => {
            let dst = Object::new(ctx.clone())?;
            let fill = Fill::Map {
                dst: dst.clone(),
                fields: fields.iter(),
            };
            Ok((dst.into_value(), Some(fill)))
        }
    }
}

/// Converts a JavaScript value into a plain value (see the module documentation).
pub(crate) fn to_value<'js>(
    ctx: &Ctx<'js>,
    helpers: &Helpers,
    value: JsValue<'js>,
) -> Result<Value> {
    let mut stack: Vec<Frame<'js>> = match classify(ctx, helpers, value, "")? {
        Step::Leaf(v) => return Ok(v),
        Step::Skip => return Ok(Value::Undefined),
        Step::Open(frame) => vec![frame],
    };
    let mut nodes = 1usize;
    while let Some(top) = stack.last_mut() {
        let Some((key, child)) = top.next_child()? else {
            let Some(frame) = stack.pop() else { break };
            let (key, value) = frame.finish();
            match stack.last_mut() {
                Some(parent) => parent.push(key, value),
                None => return Ok(value),
            }
            continue;
        };
        nodes += 1;
        if nodes > NODES_MAX {
            return Err(Exception::throw_range(ctx, "value has too many elements"));
        }
        match classify(ctx, helpers, child, &key)? {
            Step::Leaf(v) => top.push(key, v),
            Step::Skip => top.skip(),
            Step::Open(mut frame) => {
                if stack.len() >= DEPTH_MAX {
                    return Err(Exception::throw_range(ctx, "value is nested too deeply"));
                }
                frame.set_key(key);
                stack.push(frame);
            }
        }
    }
    Ok(Value::Undefined)
}

/// A JS container being read into a plain value; `key` is its name in its parent.
enum Frame<'js> {
    List {
        src: Object<'js>,
        len: u32,
        next: u32,
        out: Vec<Value>,
        key: Box<str>,
    },
    Map {
        src: Object<'js>,
        keys: Vec<String>,
        next: usize,
        out: Fields,
        key: Box<str>,
    },
}

type Fields = Vec<(Box<str>, Value)>;

impl<'js> Frame<'js> {
    /// The next child and its key (the index as text for lists, for `toJSON`).
    fn next_child(&mut self) -> Result<Option<(Box<str>, JsValue<'js>)>> {
        match self {
            Frame::List { src, len, next, .. } if *next < *len => {
                let i = *next;
                *next += 1;
                Ok(Some((i.to_string().into(), src.get(i)?)))
            }
            Frame::Map {
                src, keys, next, ..
            } if *next < keys.len() => {
                let key = std::mem::take(&mut keys[*next]);
                *next += 1;
                let child = src.get(key.as_str())?;
                Ok(Some((key.into(), child)))
            }
            _ => Ok(None),
        }
    }

    fn push(&mut self, key: Box<str>, v: Value) {
        match self {
            Frame::List { out, .. } => out.push(v),
            Frame::Map { out, .. } => out.push((key, v)),
        }
    }

    /// A child that JSON drops: `null` in a list, nothing in an object.
    fn skip(&mut self) {
        if let Frame::List { out, .. } = self {
            out.push(Value::Null);
        }
    }

    fn set_key(&mut self, k: Box<str>) {
        match self {
            Frame::List { key, .. } | Frame::Map { key, .. } => *key = k,
        }
    }

    fn finish(self) -> (Box<str>, Value) {
        match self {
            Frame::List { out, key, .. } => (key, Value::Array(out)),
            Frame::Map { out, key, .. } => (key, Value::Object(out)),
        }
    }
}

enum Step<'js> {
    Leaf(Value),
    Skip,
    Open(Frame<'js>),
}

/// Decides how one JS value converts; calls `toJSON` once, as `JSON.stringify` does.
fn classify<'js>(
    ctx: &Ctx<'js>,
    helpers: &Helpers,
    value: JsValue<'js>,
    key: &str,
) -> Result<Step<'js>> {
    let mut value = value;
    for to_json_allowed in [true, false] {
        let obj = match value.type_of() {
            Type::Uninitialized | Type::Undefined | Type::Symbol | Type::Module | Type::Unknown => {
                return Ok(Step::Skip)
            }
            Type::Null => return Ok(Step::Leaf(Value::Null)),
            Type::Bool => return Ok(Step::Leaf(Value::Bool(value.as_bool().unwrap_or(false)))),
            Type::Int | Type::Float => {
                return Ok(Step::Leaf(Value::Number(
                    value.as_number().unwrap_or(f64::NAN),
                )))
            }
            Type::String | Type::BigInt => {
                return Ok(Step::Leaf(Value::String(text(ctx, helpers, value)?)))
            }
            _ => match value.as_object() {
                Some(obj) => obj.clone(),
                None => return Ok(Step::Skip),
            },
        };
        let kind_of: Function = helpers.kind_of.clone().restore(ctx)?;
        match kind_of.call::<_, i32>((obj.clone(),))? {
            1 => return open_list(obj),
            2 => {
                let serialize: Function = helpers.serialize.clone().restore(ctx)?;
                let xml: JsValue = serialize.call((obj,))?;
                return Ok(Step::Leaf(Value::Xml(text(ctx, helpers, xml)?)));
            }
            3 if to_json_allowed => {
                let call: Function = helpers.call_to_json.clone().restore(ctx)?;
                value = call.call((obj, key))?;
            }
            3 | 4 => return open_map(obj),
            _ => return Ok(Step::Skip),
        }
    }
    Ok(Step::Skip)
}

fn open_list(src: Object<'_>) -> Result<Step<'_>> {
    let len: f64 = src.get("length")?;
    let len = if len.is_finite() && len > 0.0 {
        len.min(u32::MAX as f64) as u32
    } else {
        0
    };
    if len as usize > NODES_MAX {
        return Err(Exception::throw_range(
            src.ctx(),
            "array has too many elements",
        ));
    }
    let out = Vec::with_capacity(len.min(1024) as usize);
    Ok(Step::Open(Frame::List {
        src,
        len,
        next: 0,
        out,
        key: "".into(),
    }))
}

fn open_map(src: Object<'_>) -> Result<Step<'_>> {
    let keys = src
        .own_keys::<String>(Filter::new().string().enum_only())
        .collect::<Result<Vec<String>>>()?;
    let out = Vec::with_capacity(keys.len());
    Ok(Step::Open(Frame::Map {
        src,
        keys,
        next: 0,
        out,
        key: "".into(),
    }))
}

/// A JS string (or a value coerced to one) as Rust text. Lone surrogates, which UTF-8
/// cannot carry, become U+FFFD.
pub(crate) fn text<'js>(
    ctx: &Ctx<'js>,
    helpers: &Helpers,
    value: JsValue<'js>,
) -> Result<Box<str>> {
    let js = Coerced::<rquickjs::String>::from_js(ctx, value)?.0;
    match js.to_string() {
        Ok(s) => Ok(s.into()),
        Err(_) => {
            let well_formed: Function = helpers.well_formed.clone().restore(ctx)?;
            let fixed: rquickjs::String = well_formed.call((js,))?;
            Ok(fixed.to_string()?.into())
        }
    }
}

/// `_event.raw`: the data as the processor received it. Events arrive as values, so this
/// is their text: JSON for objects and arrays (keeping duplicate keys, which W3C test 178
/// looks for), the text itself for strings and XML, nothing for no data.
pub(crate) fn raw_text(data: &Value) -> Option<String> {
    match data {
        Value::Undefined => None,
        Value::String(s) | Value::Xml(s) => Some(s.to_string()),
        other => Some(json_text(other)),
    }
}

/// JSON text of a value, keeping object keys in order and duplicates; iterative.
fn json_text(value: &Value) -> String {
    enum Open<'a> {
        List(std::slice::Iter<'a, Value>),
        Map(std::slice::Iter<'a, (Box<str>, Value)>),
    }
    let mut out = String::new();
    let mut stack: Vec<(Open<'_>, bool)> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(v) = next.take() {
            match v {
                Value::Array(items) => {
                    out.push('[');
                    stack.push((Open::List(items.iter()), true));
                }
                Value::Object(fields) => {
                    out.push('{');
                    stack.push((Open::Map(fields.iter()), true));
                }
                leaf => out.push_str(&leaf_json(leaf)),
            }
        }
        let Some((open, first)) = stack.last_mut() else {
            return out;
        };
        let item = match open {
            Open::List(items) => items.next().map(|v| (None, v)),
            Open::Map(fields) => fields.next().map(|(k, v)| (Some(k), v)),
        };
        match item {
            Some((key, v)) => {
                if !std::mem::replace(first, false) {
                    out.push(',');
                }
                if let Some(key) = key {
                    out.push_str(&leaf_json(&Value::String(key.clone())));
                    out.push(':');
                }
                next = Some(v);
            }
            None => {
                out.push(if matches!(open, Open::List(_)) {
                    ']'
                } else {
                    '}'
                });
                stack.pop();
            }
        }
    }
}

fn leaf_json(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_finite() => n.to_string(),
        Value::String(s) | Value::Xml(s) => {
            serde_json::to_string(&**s).unwrap_or_else(|_| String::from("\"\""))
        }
        _ => String::from("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_keeps_duplicates_and_order() {
        let data = Value::Object(vec![
            ("Var1".into(), Value::Number(2.0)),
            ("Var1".into(), Value::Number(3.0)),
            (
                "l".into(),
                Value::Array(vec![Value::Null, Value::String("a\"".into())]),
            ),
            ("e".into(), Value::Object(Vec::new())),
        ]);
        let raw = raw_text(&data).expect("text");
        assert_eq!(raw, r#"{"Var1":2,"Var1":3,"l":[null,"a\""],"e":{}}"#);
        assert_eq!(raw_text(&Value::Undefined), None);
        assert_eq!(raw_text(&Value::Number(1.5)).as_deref(), Some("1.5"));
    }
}
