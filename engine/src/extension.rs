//! Baton's extension actions: executable content in Baton namespaces.
//!
//! Every Baton namespace URI is [`BATON_NS_PREFIX`] followed by a module name:
//! [`QUEUE_NS`] for routing through queues (`<queue:submit>`), [`IXN_NS`] for acting on
//! interactions (`<ixn:route>`), [`SESSION_NS`] for session actions (`<session:response>`,
//! `<session:fetch>`). An element in a Baton namespace must be an action listed in
//! [`ACTIONS`] and must stand where executable content may; anything else is a compile error
//! with its line and column, so a typo in a strategy is caught at load time rather than
//! silently ignored. Elements in other foreign namespaces keep SCXML's rule: they are
//! ignored. The namespaces of the established orchestration servers are aliases of the
//! modules ([`MODULES`], [`module_of`]): their elements are Baton actions where the names
//! match, and take Baton's attributes.
//!
//! An action is compiled once, like `<send>`: each attribute is a literal (`status="404"`)
//! or an expression under the same name plus `expr` (`statusexpr="code"`), never both, and
//! its payload is `namelist`, `<param>` children or `<content>`, as for `<send>`. At run
//! time the session evaluates them and hands an [`crate::effects::ExtensionAction`] to the
//! host through [`crate::effects::Effects::extension`]; an evaluation error or a refusal
//! by the host raises `error.execution` and ends the block, as for any executable content.
//! Every action except `<session:response>` gets an id from the session (as a `<send>`
//! does), stored at `idlocation` if the element has one, which the host echoes in the
//! events that report the action's outcome.
//!
//! A request is an external event that a host delivers with [`REQUEST_ORIGINTYPE`] as its
//! `origintype` and the request id as its `sendid`; `<session:response>` without
//! `requestid` answers the request whose event started the current macrostep.

use crate::delay::parse_delay_ms;
use crate::value::Value;

/// The common prefix of every Baton namespace URI; the module name follows it.
pub const BATON_NS_PREFIX: &str = "http://baton.dev/scxml/";

/// The namespace of queue actions (`<queue:submit>`, `<queue:cancel>`, `<queue:update>`).
pub const QUEUE_NS: &str = "http://baton.dev/scxml/queue";

/// The namespace of interaction actions (`<ixn:route>`, `<ixn:attach>`, ...).
pub const IXN_NS: &str = "http://baton.dev/scxml/ixn";

/// The namespace of session actions (`<session:response>`, `<session:fetch>`,
/// `<session:start>`).
pub const SESSION_NS: &str = "http://baton.dev/scxml/session";

/// The namespace of treatments played to a voice call by a media server (`<dialog:play>`,
/// `<dialog:collect>`).
pub const DIALOG_NS: &str = "http://baton.dev/scxml/dialog";

/// The `_event.origintype` of a request event (an external event awaiting a
/// `<session:response>`); its `_event.sendid` is the request id.
pub const REQUEST_ORIGINTYPE: &str = "http://baton.dev/scxml/session#request";

/// A module of actions: Baton's namespace and the other servers' namespaces that alias it.
#[derive(Clone, Copy, Debug)]
pub struct Module {
    /// The module name, the last segment of Baton's URI (`queue`).
    pub name: &'static str,
    /// Baton's namespace URI.
    pub namespace: &'static str,
    /// Namespace URIs of other orchestration servers whose actions of the same name mean
    /// the same (Genesys ORS documents them without a scheme, and both spellings occur).
    pub aliases: &'static [&'static str],
}

/// Every module with actions, and its aliases.
pub const MODULES: &[Module] = &[
    Module {
        name: "queue",
        namespace: QUEUE_NS,
        aliases: &[
            "http://www.genesyslab.com/modules/queue",
            "www.genesyslab.com/modules/queue",
        ],
    },
    Module {
        name: "ixn",
        namespace: IXN_NS,
        aliases: &[
            "http://www.genesyslab.com/modules/interaction",
            "www.genesyslab.com/modules/interaction",
        ],
    },
    Module {
        name: "dialog",
        namespace: DIALOG_NS,
        aliases: &[],
    },
    Module {
        name: "session",
        namespace: SESSION_NS,
        aliases: &[
            "http://www.genesyslab.com/modules/session",
            "www.genesyslab.com/modules/session",
        ],
    },
];

/// Which extension action an element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionKind {
    /// `<queue:submit>`: queues an interaction for the best of its targets.
    QueueSubmit,
    /// `<queue:cancel>`: takes an interaction out of its queue.
    QueueCancel,
    /// `<queue:update>`: changes a queued interaction's priority.
    QueueUpdate,
    /// `<ixn:route>`: offers an interaction to an agent.
    IxnRoute,
    /// `<ixn:redirect>`: moves an offered or accepted interaction to another agent.
    IxnRedirect,
    /// `<ixn:reject>`: refuses an interaction (a call gets a SIP status such as 486).
    IxnReject,
    /// `<ixn:attach>`: merges key/values into an interaction's attached data.
    IxnAttach,
    /// `<ixn:terminate>`: ends an interaction.
    IxnTerminate,
    /// `<ixn:createmessage>`: sends an outbound message (SMS, e-mail, ...).
    IxnCreateMessage,
    /// `<dialog:play>`: hands a call to the media server for an announcement or music.
    DialogPlay,
    /// `<dialog:collect>`: hands a call to the media server's dialog to collect digits.
    DialogCollect,
    /// `<session:fetch>`: an HTTP request whose answer comes back as an event.
    SessionFetch,
    /// `<session:start>`: starts another session.
    SessionStart,
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
    /// `undefined`: the host decides (e.g. status 200, the session's interaction).
    Undefined,
    /// This text, as if the element gave it as a literal.
    Literal(&'static str),
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
    /// One of the two forms must be present (a compile error otherwise).
    pub required: bool,
}

impl AttributeSpec {
    /// An optional attribute without a literal check whose default is `undefined`.
    const fn new(name: &'static str, expr: &'static str) -> AttributeSpec {
        AttributeSpec {
            name,
            expr,
            default: AttributeDefault::Undefined,
            literal: None,
            required: false,
        }
    }

    /// The same attribute, required.
    const fn required(self) -> AttributeSpec {
        AttributeSpec {
            required: true,
            ..self
        }
    }

    /// The same attribute, with its literal checked at compile time.
    const fn checked(self, check: LiteralCheck) -> AttributeSpec {
        AttributeSpec {
            literal: Some(check),
            ..self
        }
    }

    /// The same attribute, with another default.
    const fn or(self, default: AttributeDefault) -> AttributeSpec {
        AttributeSpec { default, ..self }
    }
}

/// What an action element may carry.
#[derive(Clone, Copy, Debug)]
pub struct ActionSpec {
    /// Which action.
    pub kind: ActionKind,
    /// Baton's namespace URI of its module.
    pub namespace: &'static str,
    /// The local name.
    pub name: &'static str,
    /// Its attributes (besides `namelist` and `idlocation`), in the order the host
    /// receives them.
    pub attributes: &'static [AttributeSpec],
    /// It takes a payload (`namelist`, `<param>`, `<content>`); when false, any of them is
    /// a compile error rather than data silently dropped.
    pub payload: bool,
    /// Each execution gets an id from the session, and the element may name a location
    /// to store it in (`idlocation`), as for `<send>`.
    pub id_location: bool,
}

/// True for an HTTP status a response may carry: a final status, 200 to 599.
pub fn is_response_status(text: &str) -> bool {
    text.parse::<u16>().is_ok_and(|s| (200..=599).contains(&s))
}

/// True for a status a refused call may get: a SIP failure, 400 to 699.
pub fn is_reject_status(text: &str) -> bool {
    text.parse::<u16>().is_ok_and(|s| (400..=699).contains(&s))
}

/// True for an announcement's repeat count (RFC 4240): a positive whole number or
/// `forever`.
pub fn is_repeat(text: &str) -> bool {
    text == "forever" || text.parse::<u32>().is_ok_and(|n| n > 0)
}

/// True for a whole number (a priority), e.g. `5` or `-1`.
pub fn is_integer(text: &str) -> bool {
    text.trim().parse::<i64>().is_ok()
}

/// True for a duration written like a `<send delay>`: `30s`, `500ms`, `2.5s`.
pub fn is_duration(text: &str) -> bool {
    parse_delay_ms(text).is_some()
}

/// The orderings `<queue:submit>` knows for choosing among ready agents.
pub const ORDERINGS: &[&str] = &["longest-idle", "most-skilled", "least-occupied"];

/// True for one of [`ORDERINGS`].
pub fn is_ordering(text: &str) -> bool {
    ORDERINGS.contains(&text)
}

/// True for an HTTP method `<session:fetch>` performs.
pub fn is_fetch_method(text: &str) -> bool {
    text == "GET" || text == "POST"
}

/// The milliseconds of a duration argument: a string written like a `<send delay>`
/// (`"30s"`, `"500ms"`, `"2.5s"`), or a number of milliseconds (from an expression).
/// `None` for anything else, including negative or non-finite numbers; the host reports
/// that as the action's error.
pub fn duration_ms(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => parse_delay_ms(text),
        Value::Number(n) if n.is_finite() && *n >= 0.0 && *n < u64::MAX as f64 => Some(*n as u64),
        _ => None,
    }
}

/// The whole number of an integer argument: a literal's text (`"5"`) or a number from an
/// expression without a fraction. `None` for anything else.
pub fn integer(value: &Value) -> Option<i64> {
    const LIMIT: f64 = i64::MAX as f64;
    match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < LIMIT => Some(*n as i64),
        _ => None,
    }
}

const INTEGER: LiteralCheck = LiteralCheck {
    valid: is_integer,
    expected: "a whole number",
};

const DURATION: LiteralCheck = LiteralCheck {
    valid: is_duration,
    expected: "a duration such as \"30s\" or \"500ms\"",
};

const ORDERING: LiteralCheck = LiteralCheck {
    valid: is_ordering,
    expected: "\"longest-idle\", \"most-skilled\" or \"least-occupied\"",
};

const METHOD: LiteralCheck = LiteralCheck {
    valid: is_fetch_method,
    expected: "\"GET\" or \"POST\"",
};

const REJECT_STATUS: LiteralCheck = LiteralCheck {
    valid: is_reject_status,
    expected: "a SIP failure status from 400 to 699",
};

const REPEAT: LiteralCheck = LiteralCheck {
    valid: is_repeat,
    expected: "a whole number of plays or \"forever\"",
};

const STATUS: LiteralCheck = LiteralCheck {
    valid: is_response_status,
    expected: "an HTTP status from 200 to 599",
};

/// The interaction an action applies to; absent, the host picks the session's own.
const INTERACTION: AttributeSpec = AttributeSpec::new("interaction", "interactionexpr");
const PRIORITY: AttributeSpec = AttributeSpec::new("priority", "priorityexpr").checked(INTEGER);
const TIMEOUT: AttributeSpec = AttributeSpec::new("timeout", "timeoutexpr").checked(DURATION);
const SRC: AttributeSpec = AttributeSpec::new("src", "srcexpr").required();

/// The attributes of `<ixn:route>` and `<ixn:redirect>`.
const ROUTE: &[AttributeSpec] = &[
    INTERACTION,
    AttributeSpec::new("target", "targetexpr"),
    TIMEOUT,
];

/// An action of module `namespace` that the session tracks by an id (`idlocation`), with
/// a payload or without.
const fn tracked(
    kind: ActionKind,
    namespace: &'static str,
    name: &'static str,
    attributes: &'static [AttributeSpec],
    payload: bool,
) -> ActionSpec {
    ActionSpec {
        kind,
        namespace,
        name,
        attributes,
        payload,
        id_location: true,
    }
}

/// Every extension action Baton knows.
pub const ACTIONS: &[ActionSpec] = &[
    tracked(
        ActionKind::QueueSubmit,
        QUEUE_NS,
        "submit",
        &[
            INTERACTION,
            AttributeSpec::new("targets", "targetsexpr").required(),
            PRIORITY,
            TIMEOUT,
            AttributeSpec::new("ordering", "orderingexpr").checked(ORDERING),
        ],
        false,
    ),
    tracked(
        ActionKind::QueueCancel,
        QUEUE_NS,
        "cancel",
        &[INTERACTION],
        false,
    ),
    tracked(
        ActionKind::QueueUpdate,
        QUEUE_NS,
        "update",
        &[INTERACTION, PRIORITY.required()],
        false,
    ),
    tracked(ActionKind::IxnRoute, IXN_NS, "route", ROUTE, true),
    tracked(ActionKind::IxnRedirect, IXN_NS, "redirect", ROUTE, true),
    tracked(
        ActionKind::IxnAttach,
        IXN_NS,
        "attach",
        &[INTERACTION],
        true,
    ),
    tracked(
        ActionKind::IxnTerminate,
        IXN_NS,
        "terminate",
        &[INTERACTION, AttributeSpec::new("reason", "reasonexpr")],
        false,
    ),
    tracked(
        ActionKind::IxnReject,
        IXN_NS,
        "reject",
        &[
            INTERACTION,
            AttributeSpec::new("status", "statusexpr").checked(REJECT_STATUS),
            AttributeSpec::new("reason", "reasonexpr"),
        ],
        false,
    ),
    tracked(
        ActionKind::IxnCreateMessage,
        IXN_NS,
        "createmessage",
        &[
            AttributeSpec::new("media", "mediaexpr").required(),
            AttributeSpec::new("to", "toexpr").required(),
            AttributeSpec::new("gateway", "gatewayexpr"),
            AttributeSpec::new("subject", "subjectexpr"),
            INTERACTION,
        ],
        true,
    ),
    tracked(
        ActionKind::DialogPlay,
        DIALOG_NS,
        "play",
        &[
            INTERACTION,
            SRC,
            AttributeSpec::new("repeat", "repeatexpr").checked(REPEAT),
            AttributeSpec::new("duration", "durationexpr").checked(DURATION),
            AttributeSpec::new("locale", "localeexpr"),
        ],
        false,
    ),
    tracked(
        ActionKind::DialogCollect,
        DIALOG_NS,
        "collect",
        &[INTERACTION, SRC],
        false,
    ),
    tracked(
        ActionKind::SessionFetch,
        SESSION_NS,
        "fetch",
        &[
            SRC,
            AttributeSpec::new("method", "methodexpr")
                .checked(METHOD)
                .or(AttributeDefault::Literal("GET")),
            TIMEOUT,
        ],
        true,
    ),
    tracked(ActionKind::SessionStart, SESSION_NS, "start", &[SRC], true),
    ActionSpec {
        kind: ActionKind::SessionResponse,
        namespace: SESSION_NS,
        name: "response",
        attributes: &[
            AttributeSpec::new("requestid", "requestidexpr").or(AttributeDefault::CurrentRequest),
            AttributeSpec::new("status", "statusexpr").checked(STATUS),
        ],
        payload: true,
        id_location: false,
    },
];

/// True if `namespace` is a Baton namespace (known module or not) or an alias of a module:
/// its elements must be Baton actions.
pub fn is_baton_namespace(namespace: &str) -> bool {
    module_of(namespace).is_some()
}

/// The module of a Baton namespace (`session` for [`SESSION_NS`]) or of an alias of one
/// (`ixn` for `http://www.genesyslab.com/modules/interaction`); `None` for others.
pub fn module_of(namespace: &str) -> Option<&str> {
    if let Some(module) = namespace.strip_prefix(BATON_NS_PREFIX) {
        return Some(module);
    }
    let alias = MODULES.iter().find(|m| m.aliases.contains(&namespace));
    alias.map(|m| m.name)
}

/// The action an element in a Baton namespace (or an alias) names, if Baton knows it.
pub fn action(namespace: &str, local: &str) -> Option<&'static ActionSpec> {
    let module = module_of(namespace)?;
    ACTIONS
        .iter()
        .find(|spec| spec.name == local && module_of(spec.namespace) == Some(module))
}

/// The local names of the actions of `namespace`, comma separated, for error messages.
pub fn known_actions(namespace: &str) -> String {
    let module = module_of(namespace);
    let names: Vec<&str> = ACTIONS
        .iter()
        .filter(|spec| module.is_some() && module_of(spec.namespace) == module)
        .map(|spec| spec.name)
        .collect();
    match names.is_empty() {
        true => "none".to_owned(),
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
            assert!(MODULES.iter().any(|m| m.namespace == spec.namespace));
            for attribute in spec.attributes {
                assert_eq!(format!("{}expr", attribute.name), attribute.expr);
                for reserved in ["namelist", "idlocation"] {
                    assert_ne!(attribute.name, reserved);
                }
                if let (AttributeDefault::Literal(text), Some(check)) =
                    (attribute.default, attribute.literal)
                {
                    assert!((check.valid)(text), "{}: default {text}", attribute.name);
                }
            }
            let unique = ACTIONS
                .iter()
                .filter(|other| other.namespace == spec.namespace && other.name == spec.name);
            assert_eq!(unique.count(), 1, "{}", spec.name);
        }
        for module in MODULES {
            assert_eq!(module_of(module.namespace), Some(module.name));
            for alias in module.aliases {
                assert_eq!(module_of(alias), Some(module.name));
            }
        }
        assert!(action(SESSION_NS, "response").is_some());
        assert!(action(SESSION_NS, "respond").is_none());
    }

    #[test]
    fn aliases_name_the_same_actions() {
        let genesys = "http://www.genesyslab.com/modules/queue";
        assert_eq!(
            action(genesys, "submit").map(|s| s.kind),
            Some(ActionKind::QueueSubmit)
        );
        let ixn = "www.genesyslab.com/modules/interaction";
        assert_eq!(
            action(ixn, "redirect").map(|s| s.kind),
            Some(ActionKind::IxnRedirect)
        );
        assert!(action(ixn, "deliver").is_none());
        assert_eq!(known_actions(ixn), known_actions(IXN_NS));
        assert_eq!(module_of("urn:other"), None);
        assert_eq!(known_actions("http://baton.dev/scxml/nope"), "none");
    }

    #[test]
    fn literal_checks() {
        assert!(is_response_status("404"));
        assert!(!is_response_status("199"));
        assert!(!is_response_status("600"));
        assert!(!is_response_status("ok"));
        assert!(is_integer("-3") && is_integer("10"));
        assert!(!is_integer("1.5") && !is_integer("high"));
        assert!(is_duration("30s") && is_duration("2.5s") && is_duration("500ms"));
        assert!(!is_duration("30") && !is_duration("soon"));
        assert!(is_ordering("most-skilled") && !is_ordering("random"));
        assert!(is_fetch_method("POST") && !is_fetch_method("get"));
        assert!(is_reject_status("486") && is_reject_status("603"));
        assert!(!is_reject_status("302") && !is_reject_status("700"));
        assert!(is_repeat("forever") && is_repeat("3"));
        assert!(!is_repeat("0") && !is_repeat("always"));
    }

    #[test]
    fn arguments_convert_the_same_from_literals_and_expressions() {
        assert_eq!(duration_ms(&Value::String("2.5s".into())), Some(2_500));
        assert_eq!(duration_ms(&Value::Number(750.0)), Some(750));
        assert_eq!(duration_ms(&Value::Number(-1.0)), None);
        assert_eq!(duration_ms(&Value::Number(f64::NAN)), None);
        assert_eq!(duration_ms(&Value::Undefined), None);
        assert_eq!(integer(&Value::String(" 7 ".into())), Some(7));
        assert_eq!(integer(&Value::Number(-2.0)), Some(-2));
        assert_eq!(integer(&Value::Number(2.5)), None);
        assert_eq!(integer(&Value::Bool(true)), None);
    }
}
