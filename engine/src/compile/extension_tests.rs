//! Compile rules of the routing actions: required attributes, literal checks, payload
//! rules, `idlocation`, and the namespaces of other servers as aliases.

use super::*;
use crate::extension::{ActionKind, IXN_NS, QUEUE_NS};

/// A document declaring `queue`, `ixn` and `session` for Baton's modules and `gq`, `gi`
/// for the Genesys ORS ones; `body` (executable content) starts on line 3, column 1.
fn routing(body: &str) -> String {
    let session = crate::extension::SESSION_NS;
    format!(
        "<scxml xmlns=\"{SCXML_NS}\" version=\"1.0\" xmlns:queue=\"{QUEUE_NS}\"\n \
         xmlns:ixn=\"{IXN_NS}\" xmlns:session=\"{session}\" \
         xmlns:gq=\"http://www.genesyslab.com/modules/queue\" \
         xmlns:gi=\"www.genesyslab.com/modules/interaction\">\
         <datamodel><data id=\"rid\"/></datamodel><state id=\"s\"><onentry>\n{body}\
         </onentry></state></scxml>"
    )
}

fn routing_doc(body: &str) -> Document {
    doc(&routing(body))
}

fn routing_error(body: &str) -> CompileError {
    error(&routing(body))
}

#[test]
fn every_routing_action_compiles_with_its_attributes() {
    let d = routing_doc(
        r#"<queue:submit interactionexpr="i" targets="sales" priority="5" timeout="30s"
             ordering="most-skilled" idlocation="rid"/>
           <queue:cancel/><queue:update priorityexpr="p + 1"/>
           <ixn:route target="agent-1" timeout="2.5s"><param name="a" expr="1"/></ixn:route>
           <ixn:redirect targetexpr="t"/><ixn:attach namelist="rid"/>
           <ixn:terminate reason="done"/>
           <ixn:createmessage media="sms" toexpr="to" subject="Hi"><content>Hello</content>
           </ixn:createmessage>
           <session:fetch src="http://crm/x" method="POST" timeout="500ms">
             <param name="q" expr="1"/></session:fetch>
           <session:start srcexpr="'other.scxml'"/>"#,
    );
    let kinds: Vec<ActionKind> = d.extensions.iter().map(|x| x.kind).collect();
    use ActionKind::*;
    let expected = [
        QueueSubmit,
        QueueCancel,
        QueueUpdate,
        IxnRoute,
        IxnRedirect,
        IxnAttach,
        IxnTerminate,
        IxnCreateMessage,
        SessionFetch,
        SessionStart,
    ];
    assert_eq!(kinds, expected);
    let submit = &d.extensions[0];
    assert!(matches!(
        &submit.args[..],
        [
            Some(Dyn::Expr(_)),
            Some(Dyn::Literal(targets)),
            Some(Dyn::Literal(_)),
            Some(Dyn::Literal(_)),
            Some(Dyn::Literal(ordering)),
        ] if &**targets == "sales" && &**ordering == "most-skilled"
    ));
    assert!(submit.id_location.is_some());
    assert!(d.extensions[1..].iter().all(|x| x.id_location.is_none()));
    assert_eq!(d.extensions[3].payload.params.len(), 1);
    assert_eq!(d.extensions[5].payload.namelist.len(), 1);
    assert!(d.extensions[7].payload.content.is_some());
}

#[test]
fn required_attributes_are_named_with_the_element_position() {
    let cases = [
        ("<queue:submit priority=\"1\"/>", "queue:submit", "targets"),
        ("<queue:update/>", "queue:update", "priority"),
        (
            "<ixn:createmessage to=\"x\"/>",
            "ixn:createmessage",
            "media",
        ),
        (
            "<ixn:createmessage mediaexpr=\"m\"/>",
            "ixn:createmessage",
            "to",
        ),
        ("<session:fetch method=\"GET\"/>", "session:fetch", "src"),
        ("<session:start/>", "session:start", "src"),
    ];
    for (body, element, attribute) in cases {
        let e = routing_error(body);
        assert_eq!(
            (e.position, e.kind),
            (at(3, 1), missing(element, attribute))
        );
    }
    // The expression form satisfies the requirement.
    routing_doc("<queue:submit targetsexpr=\"['a', 'b']\"/><session:start srcexpr=\"s\"/>");
    let e = routing_error("<queue:submit priority=\"1\"/>");
    assert!(
        e.to_string()
            .starts_with("t.scxml:3:1: <queue:submit> requires the attribute 'targets'"),
        "{e}"
    );
}

#[test]
fn literals_are_checked_at_their_attribute() {
    let cases = [
        (
            "<queue:submit targets=\"t\" priority=\"high\"/>",
            "priority",
            "high",
            27,
        ),
        (
            "<queue:submit targets=\"t\" timeout=\"30\"/>",
            "timeout",
            "30",
            27,
        ),
        (
            "<queue:submit targets=\"t\" ordering=\"random\"/>",
            "ordering",
            "random",
            27,
        ),
        ("<queue:update priority=\"1.5\"/>", "priority", "1.5", 15),
        ("<ixn:route timeout=\"soon\"/>", "timeout", "soon", 12),
        (
            "<session:fetch src=\"u\" method=\"get\"/>",
            "method",
            "get",
            24,
        ),
    ];
    for (body, attribute, value, column) in cases {
        let e = routing_error(body);
        assert_eq!(e.position, at(3, column), "{body}: {e}");
        let K::BadAttributeValue {
            attribute: found,
            value: bad,
            ..
        } = &e.kind
        else {
            panic!("{body}: {e}");
        };
        assert_eq!((&**found, &**bad), (attribute, value));
    }
    let e = routing_error("<queue:submit targets=\"t\" timeout=\"30\"/>");
    assert!(e.to_string().contains("expected a duration such as"), "{e}");
    // Expressions are checked when they run, not at load time.
    routing_doc("<queue:submit targets=\"t\" priorityexpr=\"'x'\" timeoutexpr=\"'?'\"/>");
}

#[test]
fn actions_without_payload_reject_one() {
    let e = routing_error("<queue:cancel>\n<param name=\"a\" expr=\"1\"/></queue:cancel>");
    assert_eq!(
        (e.position, e.kind),
        (at(4, 1), unexpected("param", "queue:cancel"))
    );
    let e = routing_error("<ixn:terminate><content>x</content></ixn:terminate>");
    assert_eq!(e.kind, unexpected("content", "ixn:terminate"));
    let e = routing_error("<queue:submit targets=\"t\" namelist=\"rid\"/>");
    let kind = K::UnknownAttribute {
        element: "queue:submit".into(),
        attribute: "namelist".into(),
    };
    assert_eq!((e.position, e.kind), (at(3, 27), kind));
}

#[test]
fn idlocation_is_for_actions_with_ids_only() {
    let e = routing_error("<session:response idlocation=\"rid\"/>");
    let kind = K::UnknownAttribute {
        element: "session:response".into(),
        attribute: "idlocation".into(),
    };
    assert_eq!((e.position, e.kind), (at(3, 19), kind));
    let d = routing_doc("<ixn:attach idlocation=\"rid\"/>");
    assert!(d.extensions[0].id_location.is_some());
}

#[test]
fn ors_namespaces_are_aliases_with_baton_attributes() {
    let d = routing_doc("<gq:submit targets=\"t\"/><gi:redirect target=\"a\"/>");
    let kinds: Vec<ActionKind> = d.extensions.iter().map(|x| x.kind).collect();
    assert_eq!(kinds, [ActionKind::QueueSubmit, ActionKind::IxnRedirect]);
    // An ORS action Baton does not have is an error, not silently ignored.
    let e = routing_error("<gi:deliver/>");
    assert_eq!(e.position, at(3, 1));
    assert!(matches!(&e.kind, K::UnknownExtension { known, .. } if known.contains("route")));
    // Only Baton's attributes: ORS's `queue` attribute is not one.
    let e = routing_error("<gq:submit targets=\"t\" queue=\"vq\"/>");
    let kind = K::UnknownAttribute {
        element: "gq:submit".into(),
        attribute: "queue".into(),
    };
    assert_eq!(e.kind, kind);
}

#[test]
fn voice_actions_compile_and_check_their_literals() {
    let dialog = crate::extension::DIALOG_NS;
    let body = format!(
        "<ixn:reject status=\"486\" reason=\"busy\"/>\
         <dialog:play xmlns:dialog=\"{dialog}\" src=\"http://m/a.wav\" repeat=\"forever\" \
         duration=\"30s\" locale=\"en_US\"/>\
         <dialog:collect xmlns:dialog=\"{dialog}\" srcexpr=\"vxml\"/>"
    );
    let d = routing_doc(&body);
    let kinds: Vec<ActionKind> = d.extensions.iter().map(|x| x.kind).collect();
    use ActionKind::*;
    assert_eq!(kinds, [IxnReject, DialogPlay, DialogCollect]);
    let e = routing_error("<ixn:reject status=\"302\"/>");
    assert!(e.to_string().contains("a SIP failure status"), "{e}");
    let play = format!("<dialog:play xmlns:dialog=\"{dialog}\" src=\"a\" repeat=\"0\"/>");
    let e = routing_error(&play);
    assert!(e.to_string().contains("\"forever\""), "{e}");
    let play = format!("<dialog:play xmlns:dialog=\"{dialog}\"/>");
    assert_eq!(routing_error(&play).kind, missing("dialog:play", "src"));
}

#[test]
fn documents_know_which_underscore_names_they_mention() {
    let d = routing_doc("<log expr=\"_interactions[x].data + a_b + _statistics('t')\"/>");
    assert!(d.mentions("_interactions"));
    assert!(d.mentions("_statistics"));
    assert!(!d.mentions("_b"), "inside an identifier");
    assert!(!d.mentions("_event"));
    let d = routing_doc("<log expr=\"eval('_interactions')\"/>");
    assert!(d.mentions("_anything"), "eval could read any name");
}
