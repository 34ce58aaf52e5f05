//! Baton's extension actions: executable content in Baton namespaces.
//!
//! Every Baton namespace URI is [`BATON_NS_PREFIX`] followed by a module name:
//! `http://baton.dev/scxml/session` for session actions such as `<session:response>`, and
//! later `.../queue`, `.../ixn` and so on. An element in a Baton namespace must be an action
//! listed in [`ACTIONS`] and must stand where executable content may; anything else is a
//! compile error with its line and column, so a typo in a strategy is caught at load time
//! rather than silently ignored. Elements in other foreign namespaces keep SCXML's rule:
//! they are ignored. Aliases for the namespaces of the established orchestration servers
//! can later map onto these by adding their URIs to [`module_of`].
//!
//! An action is compiled once, like `<send>`: each attribute is a literal (`status="404"`)
//! or an expression under the same name plus `expr` (`statusexpr="code"`), never both, and
//! its payload is `namelist`, `<param>` children or `<content>`, as for `<send>`. At run
//! time the session evaluates them and hands an [`crate::effects::ExtensionAction`] to the
//! host through [`crate::effects::Effects::extension`]; an evaluation error or a refusal
//! by the host raises `error.execution` and ends the block, as for any executable content.
//!
//! A request is an external event that a host delivers with [`REQUEST_ORIGINTYPE`] as its
//! `origintype` and the request id as its `sendid`; `<session:response>` without
//! `requestid` answers the request whose event started the current macrostep.

/// The common prefix of every Baton namespace URI; the module name follows it.
pub const BATON_NS_PREFIX: &str = "http://baton.dev/scxml/";

/// The namespace of session actions (`<session:response>`).
pub const SESSION_NS: &str = "http://baton.dev/scxml/session";

/// The `_event.origintype` of a request event (an external event awaiting a
/// `<session:response>`); its `_event.sendid` is the request id.
pub const REQUEST_ORIGINTYPE: &str = "http://baton.dev/scxml/session#request";

/// Which extension action an element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionKind {
    /// `<session:response>`: answers a request with a status and a body.
    SessionResponse,
}

impl ActionKind {
    /// The action's specification in [`ACTIONS`].
    pub fn spec(self) -> &'static ActionSpec {
        let spec = ACTIONS.iter().find(|spec| spec.kind == self);
        spec.expect("every ActionKind is listed in ACTIONS")
    }
}

/// How an attribute that is absent gets its value at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeDefault {
    /// `undefined`: the host decides (e.g. status 200).
    Undefined,
    /// The id of the request whose event started the current macrostep, or `undefined`
    /// when that event is not a request.
    CurrentRequest,
}

/// A compile-time check of an attribute's literal value, and what it expects (for the
/// error message).
#[derive(Clone, Copy, Debug)]
pub struct LiteralCheck {
    /// True if the literal is acceptable.
    pub valid: fn(&str) -> bool,
    /// What an acceptable literal is, e.g. "an HTTP status from 200 to 599".
    pub expected: &'static str,
}

/// One attribute of an action: a literal under `name` or an expression under `expr`.
#[derive(Clone, Copy, Debug)]
pub struct AttributeSpec {
    /// The literal form, e.g. `status`.
    pub name: &'static str,
    /// The expression form, e.g. `statusexpr`.
    pub expr: &'static str,
    /// The value when both forms are absent.
    pub default: AttributeDefault,
    /// A check of the literal form at compile time.
    pub literal: Option<LiteralCheck>,
}

/// What an action element may carry.
#[derive(Clone, Copy, Debug)]
pub struct ActionSpec {
    /// Which action.
    pub kind: ActionKind,
    /// The namespace URI.
    pub namespace: &'static str,
    /// The local name.
    pub name: &'static str,
    /// Its attributes (besides `namelist`), in the order the host receives them.
    pub attributes: &'static [AttributeSpec],
}

/// True for an HTTP status a response may carry: a final status, 200 to 599.
pub fn is_response_status(text: &str) -> bool {
    text.parse::<u16>().is_ok_and(|s| (200..=599).contains(&s))
}

/// Every extension action Baton knows.
pub const ACTIONS: &[ActionSpec] = &[ActionSpec {
    kind: ActionKind::SessionResponse,
    namespace: SESSION_NS,
    name: "response",
    attributes: &[
        AttributeSpec {
            name: "requestid",
            expr: "requestidexpr",
            default: AttributeDefault::CurrentRequest,
            literal: None,
        },
        AttributeSpec {
            name: "status",
            expr: "statusexpr",
            default: AttributeDefault::Undefined,
            literal: Some(LiteralCheck {
                valid: is_response_status,
                expected: "an HTTP status from 200 to 599",
            }),
        },
    ],
}];

/// True if `namespace` is a Baton namespace (known module or not).
pub fn is_baton_namespace(namespace: &str) -> bool {
    namespace.starts_with(BATON_NS_PREFIX)
}

/// The module of a Baton namespace (`session` for [`SESSION_NS`]); `None` for others.
pub fn module_of(namespace: &str) -> Option<&str> {
    namespace.strip_prefix(BATON_NS_PREFIX)
}

/// The action an element in a Baton namespace names, if Baton knows it.
pub fn action(namespace: &str, local: &str) -> Option<&'static ActionSpec> {
    ACTIONS
        .iter()
        .find(|spec| spec.namespace == namespace && spec.name == local)
}

/// The local names of the actions of `namespace`, comma separated, for error messages.
pub fn known_actions(namespace: &str) -> String {
    let names: Vec<&str> = ACTIONS
        .iter()
        .filter(|spec| spec.namespace == namespace)
        .map(|spec| spec.name)
        .collect();
    match names.is_empty() {
        true => "none yet".to_owned(),
        false => names.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_consistent() {
        for spec in ACTIONS {
            assert!(is_baton_namespace(spec.namespace));
            assert_eq!(spec.kind.spec().name, spec.name);
            for attribute in spec.attributes {
                assert_eq!(format!("{}expr", attribute.name), attribute.expr);
                assert_ne!(attribute.name, "namelist");
            }
        }
        assert_eq!(module_of(SESSION_NS), Some("session"));
        assert!(action(SESSION_NS, "response").is_some());
        assert!(action(SESSION_NS, "fetch").is_none());
        assert!(is_response_status("404"));
        assert!(!is_response_status("199"));
        assert!(!is_response_status("600"));
        assert!(!is_response_status("ok"));
    }
}
