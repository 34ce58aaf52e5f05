use std::path::PathBuf;

use super::*;
use crate::error::{CompileErrorKind as K, Position};
use crate::model::{
    Content, DataInit, Delay, Dyn, EventDescriptor, Instr, SendId, StateIdx, StateKind,
    TransitionKind,
};
use crate::value::Value;

const W3C_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/w3c-scxml/ecma");

/// Loads `file:NAME` (or `NAME`) from a directory.
struct DirLoader(PathBuf);

impl Loader for DirLoader {
    fn load(&mut self, _base: &str, src: &str) -> Result<String, String> {
        let name = src.strip_prefix("file:").unwrap_or(src);
        std::fs::read_to_string(self.0.join(name)).map_err(|e| e.to_string())
    }
}

/// Loads fixed texts by name.
struct MapLoader(Vec<(&'static str, &'static str)>);

impl Loader for MapLoader {
    fn load(&mut self, _base: &str, src: &str) -> Result<String, String> {
        let found = self.0.iter().find(|(name, _)| *name == src);
        found
            .map(|(_, text)| text.to_string())
            .ok_or_else(|| format!("no {src}"))
    }
}

fn doc(text: &str) -> Document {
    compile(text, "t.scxml", &mut NoLoader, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn scxml(body: &str) -> String {
    format!("<scxml xmlns=\"{SCXML_NS}\" version=\"1.0\">{body}</scxml>")
}

fn error(text: &str) -> CompileError {
    match compile(text, "t.scxml", &mut NoLoader, &Limits::default()) {
        Ok(_) => panic!("compiled: {text}"),
        Err(e) => e,
    }
}

fn at(line: u32, column: u32) -> Position {
    Position { line, column }
}

fn state(d: &Document, id: &str) -> StateIdx {
    d.state_by_id(id).unwrap_or_else(|| panic!("no state {id}"))
}

#[test]
fn every_w3c_document_compiles_except_301() {
    let mut count = 0;
    let entries = std::fs::read_dir(W3C_DIR).expect("the W3C corpus is in ../shared");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("scxml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = path.display().to_string();
        let mut loader = DirLoader(PathBuf::from(W3C_DIR));
        let result = compile(&text, &name, &mut loader, &Limits::default());
        if name.ends_with("/test301.scxml") {
            let e = result.expect_err("test301 must be rejected");
            assert!(matches!(e.kind, K::Load { .. }), "{e}");
            assert_eq!(e.position, at(5, 11), "{e}");
        } else if let Err(e) = result {
            panic!("{e}");
        }
        count += 1;
    }
    assert_eq!(count, 206);
}

#[test]
fn w3c_content_rules() {
    let compile_w3c = |name: &str| {
        let text = std::fs::read_to_string(format!("{W3C_DIR}/{name}")).expect("readable");
        let mut loader = DirLoader(PathBuf::from(W3C_DIR));
        compile(&text, name, &mut loader, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
    };
    let init = |d: &Document, i: usize| d.data[i].init.clone();
    let d = compile_w3c("test446.scxml");
    let array = Value::Array(vec![
        Value::Number(1.0),
        Value::Number(2.0),
        Value::Number(3.0),
    ]);
    assert!(matches!(init(&d, 0), DataInit::Value(v) if v == array));
    assert!(matches!(init(&d, 1), DataInit::Value(v) if v == array));
    let d = compile_w3c("test558.scxml");
    let text = Value::String("this is a string".into());
    assert!(matches!(init(&d, 0), DataInit::Value(ref v) if *v == text));
    assert!(matches!(init(&d, 1), DataInit::Value(ref v) if *v == text));
    let d = compile_w3c("test557.scxml");
    for i in 0..2 {
        let DataInit::Value(Value::Xml(xml)) = init(&d, i) else {
            panic!("{:?}", init(&d, i))
        };
        assert!(
            xml.starts_with("<books xmlns=\"\">") && xml.ends_with("</books>"),
            "{xml}"
        );
    }
    let d = compile_w3c("test179.scxml");
    assert!(
        matches!(d.sends[0].payload.content, Some(Content::Value(Value::Number(n))) if n == 123.0)
    );
    let d = compile_w3c("test552.scxml");
    assert!(matches!(init(&d, 0), DataInit::Value(Value::Number(n)) if n == 2.0));
    let d = compile_w3c("test277.scxml");
    assert!(matches!(init(&d, 0), DataInit::Expr(_)));
}

#[test]
fn invoke_content_is_a_standalone_document() {
    let text = scxml(
        r#"<state id="s"><invoke><content>
  <scxml initial="a" version="1.0"><final id="a"/></scxml>
</content></invoke></state>"#,
    );
    let d = doc(&text);
    let Some(Content::Value(Value::Xml(xml))) = &d.invokes[0].payload.content else {
        panic!("{:?}", d.invokes[0].payload.content)
    };
    let expected = format!("<scxml xmlns=\"{SCXML_NS}\" initial=\"a\" version=\"1.0\">");
    assert!(xml.starts_with(&expected), "{xml}");
    let child = compile(xml, "child", &mut NoLoader, &Limits::default());
    assert!(child.is_ok(), "{child:?}");
    assert_eq!(d.invokes[0].state, state(&d, "s"));
    assert!(d.invokes[0].finalize.is_empty());
}

#[test]
fn content_rules() {
    assert_eq!(normalize_content(" 123 "), Value::Number(123.0));
    assert_eq!(
        normalize_content("\n  this  is \n a string\n"),
        Value::String("this is a string".into())
    );
    assert_eq!(
        normalize_content(r#" "quoted" "#),
        Value::String("quoted".into())
    );
    assert_eq!(normalize_content(""), Value::String("".into()));
    assert_eq!(
        normalize_content("<a>x</a> "),
        Value::Xml("<a>x</a>".into())
    );
    assert_eq!(normalize_content("<a>x"), Value::String("<a>x".into()));
    assert_eq!(
        normalize_content(r#"{"a": [true, null]}"#),
        Value::Object(vec![(
            "a".into(),
            Value::Array(vec![Value::Bool(true), Value::Null])
        )])
    );
    let d = doc(&scxml(
        r#"<datamodel><data id="x"> <p:a xmlns:p="urn:p"><b/></p:a> <c/> </data>
           <data id="y"/><data id="z">  </data><data id="w" expr="1"/></datamodel>
           <state id="s"><onentry><assign location="x"> { "k" : 1 } </assign></onentry></state>"#,
    ));
    let ns = format!("xmlns=\"{SCXML_NS}\"");
    let xml = format!("<p:a {ns} xmlns:p=\"urn:p\"><b/></p:a> <c {ns}/>");
    assert!(
        matches!(&d.data[0].init, DataInit::Value(Value::Xml(x)) if **x == xml),
        "{:?}",
        d.data[0]
    );
    assert!(matches!(d.data[1].init, DataInit::None));
    assert!(matches!(d.data[2].init, DataInit::None));
    let object = Value::Object(vec![("k".into(), Value::Number(1.0))]);
    assert!(matches!(&d.instrs[0], Instr::AssignValue { value, .. } if *value == object));
}

#[test]
fn data_src_and_script_src() {
    let text = scxml(
        r#"<datamodel><data id="a" src="a.json"/><data id="b" src="missing"/></datamodel>
           <script src="s.js"/><script>var y = 2</script><state id="s"/>"#,
    );
    let mut loader = MapLoader(vec![("a.json", "[1]"), ("s.js", "var x = _event")]);
    let d = compile(&text, "t", &mut loader, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(&d.data[0].init, DataInit::Value(Value::Array(a)) if a.len() == 1));
    assert!(matches!(&d.data[1].init, DataInit::LoadError(r) if &**r == "no missing"));
    let scripts: Vec<&str> = d
        .scripts
        .iter()
        .map(|s| &*d.exprs[s.0 as usize].text)
        .collect();
    assert_eq!(scripts, ["var x = _event", "var y = 2"]);
    assert!(d.uses_event);
    assert!(!d.uses_in);
    assert!(d.data.iter().all(|data| data.state == StateIdx(0)));
    assert_eq!(d.states[0].data, 0..2);
}

const TREE: &str = r#"<state id="a" initial="a2">
      <transition event="e" target="b"/>
      <state id="a1"><state id="a11"/></state>
      <state id="a2"/>
      <transition event="f" target="a1 a2"/>
      <history id="h" type="deep"><transition target="a11"/></history>
    </state>
    <parallel id="b"><state/><state id="b2"><initial><transition target="b21"/></initial>
      <state id="b21"/></state></parallel>
    <final id="f"/>"#;

#[test]
fn states_are_in_document_order() {
    let d = doc(&scxml(TREE));
    let ids: Vec<&str> = d.states.iter().map(|s| &*s.id).collect();
    let generated = ["__baton_root", "__baton_7"];
    let expected = [
        generated[0],
        "a",
        "a1",
        "a11",
        "a2",
        "h",
        "b",
        generated[1],
        "b2",
        "b21",
        "f",
    ];
    assert_eq!(ids, expected);
    let ends: Vec<u32> = d.states.iter().map(|s| s.descendants_end.0).collect();
    assert_eq!(ends, [11, 6, 4, 4, 5, 6, 10, 8, 10, 10, 11]);
    let depths: Vec<u16> = d.states.iter().map(|s| s.depth).collect();
    assert_eq!(depths, [0, 1, 2, 3, 2, 2, 1, 2, 2, 3, 1]);
    use StateKind::{Atomic, Compound, Final, HistoryDeep, Parallel};
    let kinds: Vec<StateKind> = d.states.iter().map(|s| s.kind).collect();
    let expected = [
        Compound,
        Compound,
        Compound,
        Atomic,
        Atomic,
        HistoryDeep,
        Parallel,
    ];
    assert_eq!(kinds[..7], expected);
    assert_eq!(kinds[7..], [Atomic, Compound, Atomic, Final]);
    let children = |s: usize| d.states[s].children.iter().map(|c| c.0).collect::<Vec<_>>();
    assert_eq!(
        (children(0), children(1), children(3)),
        (vec![1, 6, 10], vec![2, 4, 5], vec![])
    );
    assert_eq!(
        (d.states[0].parent, d.states[1].parent),
        (None, Some(StateIdx(0)))
    );
    assert!(d.ids.len() == d.states.len() && d.ids["__baton_7"] == StateIdx(7));
    for s in &d.states {
        for t in s.transitions.clone() {
            let source = d.transitions[t as usize].source;
            assert_eq!(Some(source), d.state_by_id(&s.id));
        }
    }
}

#[test]
fn initial_transitions_and_targets() {
    let d = doc(&scxml(TREE));
    let initial = |s: usize| {
        let t = d.transition(d.states[s].initial.expect("has an initial"));
        assert!(t.events.is_empty() && t.cond.is_none());
        assert_eq!(t.source, StateIdx(s as u32));
        t.targets.iter().map(|t| t.0).collect::<Vec<_>>()
    };
    assert_eq!([initial(0), initial(1), initial(2)], [[1], [4], [3]]);
    assert_eq!([initial(5), initial(8)], [[3], [9]]);
    assert!(d.states[3].initial.is_none() && d.states[6].initial.is_none());
    let own = d.states[1].transitions.clone();
    assert_eq!(own.len(), 2);
    let first = &d.transitions[own.start as usize];
    let second = &d.transitions[own.start as usize + 1];
    assert_eq!(
        (first.source, &first.targets[..]),
        (StateIdx(1), &[StateIdx(6)][..])
    );
    assert_eq!(second.targets, [StateIdx(2), StateIdx(4)]);
    assert_eq!(second.events, [EventDescriptor::Prefix("f".into())]);
}

#[test]
fn root_id_and_generated_ids_do_not_clash() {
    let d = doc(&scxml(
        r#"<state id="__baton_root"/><state/><state id="__baton_2"/>"#,
    ));
    assert_eq!(&*d.states[0].id, "__baton_root_");
    assert_eq!(&*d.states[2].id, "__baton_2_");
    let named =
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" name="m"><state id="s"/></scxml>"#;
    let d = doc(named);
    assert_eq!((&*d.states[0].id, d.name.as_deref()), ("m", Some("m")));
    let e = error(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" name="m">
<state id="s"><transition target="m"/></state></scxml>"#,
    );
    assert!(matches!(e.kind, K::BadTarget { .. }), "{e}");
}

#[test]
fn if_elseif_else_and_nested_foreach_jumps() {
    let d = doc(&scxml(
        r#"<state id="s"><onentry>
             <if cond="a"><raise event="1"/>
             <elseif cond="b"/><raise event="2"/>
             <else/><foreach array="xs" item="x" index="i">
                      <foreach array="ys" item="y"><log expr="y"/></foreach>
                    </foreach>
             </if><raise event="end"/>
           </onentry></state>"#,
    ));
    let block = d.states[1].onentry[0];
    let code: Vec<String> = d.instrs[block.start as usize..block.end as usize]
        .iter()
        .map(|i| match i {
            Instr::If { else_pc, .. } => format!("if->{else_pc}"),
            Instr::Jump { pc } => format!("jump->{pc}"),
            Instr::Raise { event, .. } => format!("raise {event}"),
            Instr::ForeachStart { end_pc, index, .. } => {
                format!("each->{end_pc},{}", index.is_some())
            }
            Instr::ForeachNext { body_pc } => format!("next->{body_pc}"),
            Instr::Log { .. } => "log".into(),
            other => format!("{other:?}"),
        })
        .collect();
    let expected = [
        "if->3",
        "raise 1",
        "jump->11",
        "if->6",
        "raise 2",
        "jump->11",
        "each->11,true",
        "each->10,false",
        "log",
        "next->8",
        "next->7",
        "raise end",
    ];
    assert_eq!(block.start, 0);
    assert_eq!(code, expected);
    let texts: Vec<(&str, crate::model::ExprKind)> =
        d.exprs.iter().map(|e| (&*e.text, e.kind)).collect();
    use crate::model::ExprKind::{Cond, Location, Value as V};
    let want = [
        ("a", Cond),
        ("b", Cond),
        ("xs", V),
        ("x", Location),
        ("i", Location),
    ];
    assert_eq!(texts[..5], want);
    assert_eq!(texts[5..], [("ys", V), ("y", Location), ("y", V)]);
}

#[test]
fn if_without_else_and_empty_branches() {
    let d = doc(&scxml(
        r#"<state><onentry><if cond="a"><elseif cond="b"/></if></onentry></state>"#,
    ));
    let code: Vec<String> = d.instrs.iter().map(|i| format!("{i:?}")).collect();
    assert_eq!(code.len(), 3);
    assert!(
        matches!(d.instrs[0], Instr::If { else_pc: 2, .. }),
        "{code:?}"
    );
    assert!(matches!(d.instrs[1], Instr::Jump { pc: 3 }), "{code:?}");
    assert!(
        matches!(d.instrs[2], Instr::If { else_pc: 3, .. }),
        "{code:?}"
    );
}

#[test]
fn event_descriptors_are_normalised() {
    let d = doc(&scxml(
        r#"<state><transition event="foo.* bar. * baz .*" target="x"/></state>
                        <state id="x"/>"#,
    ));
    let own = d.states[1].transitions.start as usize;
    let events = &d.transitions[own].events;
    let prefix = |p: &str| EventDescriptor::Prefix(p.into());
    let expected = [
        prefix("foo"),
        prefix("bar"),
        EventDescriptor::Any,
        prefix("baz"),
        EventDescriptor::Any,
    ];
    assert_eq!(events[..], expected);
    assert!(events[0].matches("foo.bar") && events[0].matches("foo"));
    assert!(!events[0].matches("foobar") && !events[0].matches("fo"));
    assert_eq!(d.transitions[own].kind, TransitionKind::External);
}

#[test]
fn send_cancel_and_invoke() {
    let d = doc(&scxml(
        r##"<state id="s"><transition/>
             <onentry><send eventexpr="e" target="#_internal" idlocation="l" delay="1.5s"
               namelist="a b"><param name="p" location="q"/></send>
               <send event="x" id="i" delayexpr="d"><content expr="c"/></send>
               <cancel sendid="i"/><x:ext xmlns:x="urn:x"/></onentry>
             <invoke type="scxml" srcexpr="u" autoforward="true">
               <param name="k" expr="1"/><finalize><raise event="f"/></finalize></invoke>
           </state>"##,
    ));
    let s = &d.states[1];
    assert_eq!(s.onentry.len(), 1);
    let send = &d.sends[0];
    assert!(matches!(send.event, Some(Dyn::Expr(_))));
    assert!(matches!(&send.target, Some(Dyn::Literal(t)) if &**t == "#_internal"));
    assert!(matches!(send.id, SendId::Location(_)) && matches!(send.delay, Some(Delay::Ms(1500))));
    let names: Vec<&str> = send.payload.namelist.iter().map(|(n, _)| &**n).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(&*send.payload.params[0].name, "p");
    let send = &d.sends[1];
    assert!(matches!(send.delay, Some(Delay::Expr(_))) && matches!(&send.id, SendId::Literal(_)));
    assert!(matches!(send.payload.content, Some(Content::Expr(_))));
    let block = s.onentry[0];
    let tail = &d.instrs[block.end as usize - 2..block.end as usize];
    assert!(matches!(&tail[0], Instr::Cancel(Dyn::Literal(i)) if &**i == "i"));
    assert!(matches!(&tail[1], Instr::Foreign { name } if &**name == "x:ext"));
    let invoke = &d.invokes[0];
    assert!(invoke.autoforward && matches!(invoke.src, Some(Dyn::Expr(_))));
    assert_eq!(invoke.finalize.end - invoke.finalize.start, 1);
    assert_eq!(s.invokes, 0..1);
}

fn assert_error(body: &str, position: Position, kind: K) {
    let e = error(&scxml(body));
    assert_eq!((e.position, &e.kind), (position, &kind), "{e}");
    assert!(e
        .to_string()
        .starts_with(&format!("t.scxml:{}:{}: ", position.line, position.column)));
}

fn conflict(element: &str, first: &str, second: &str) -> K {
    let (element, first, second) = (element.into(), first.into(), second.into());
    K::ConflictingAttributes {
        element,
        first,
        second,
    }
}

/// The column where the body written by [`scxml`] starts.
const BODY: u32 = 62;

#[test]
fn errors_name_their_position() {
    assert_eq!(scxml("").find("</scxml>"), Some(BODY as usize - 1));
    let e = error(&scxml("<state>\n  <onentry>\n</state>"));
    assert!(matches!(e.kind, K::Xml { .. }), "{e}");
    assert_eq!(e.position, at(3, 1));
    #[rustfmt::skip]
    let cases = [
        ("<state>\n <transition target=\"nope\"/></state>", at(2, 14),
            K::UnknownTarget { id: "nope".into() }),
        ("<state id=\"a\"/>\n<final id=\"a\"/>", at(2, 8), K::DuplicateId { id: "a".into() }),
        ("<state><onentry><send event=\"a\"\n eventexpr=\"b\"/></onentry></state>", at(2, 2),
            conflict("send", "event", "eventexpr")),
        ("<state><onentry>\n<raise/></onentry></state>", at(2, 1), missing("raise", "event")),
        ("<state>\n<bogus/></state>", at(2, 1), unexpected("bogus", "state")),
        ("<final><transition/></final>", at(1, BODY + 7), unexpected("transition", "final")),
    ];
    for (body, position, kind) in cases {
        assert_error(body, position, kind);
    }
    let e = error(r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" datamodel="xpath"/>"#);
    let bad = K::BadAttributeValue {
        element: "scxml".into(),
        attribute: "datamodel".into(),
        value: "xpath".into(),
        expected: "\"ecmascript\" or \"null\"".into(),
    };
    assert_eq!((e.position, e.kind), (at(1, 48), bad));
    let e = error("<scxml/>");
    assert_eq!(
        (e.position, e.kind),
        (
            at(1, 1),
            K::NotScxml {
                found: "scxml".into()
            }
        )
    );
    let e = error("<scxml xmlns='urn:x'/>");
    assert_eq!(
        e.kind,
        K::NotScxml {
            found: "scxml (namespace 'urn:x')".into()
        }
    );
}

fn missing(element: &str, attribute: &str) -> K {
    K::MissingAttribute {
        element: element.into(),
        attribute: attribute.into(),
    }
}

fn unexpected(element: &str, parent: &str) -> K {
    K::UnexpectedElement {
        element: element.into(),
        parent: parent.into(),
    }
}

/// Each case: executable content in `<onentry>`, the error's column from the `<onentry>`
/// content start, and the error.
#[test]
fn executable_content_errors() {
    #[rustfmt::skip]
    let cases = [
        (r#"<assign location="x" expr="1">2</assign>"#, 21, conflict("assign", "expr", "content")),
        (r#"<assign location="x"/>"#, 0, missing("assign", "expr")),
        (r#"<assign expr="1"/>"#, 0, missing("assign", "location")),
        (r#"<param name="x" expr="1"/>"#, 0, unexpected("param", "onentry")),
        (r#"<send><param expr="1"/></send>"#, 6, missing("param", "name")),
        (r#"<send><param name="n"/></send>"#, 6, missing("param", "expr")),
        (r#"<send namelist="a"><content/></send>"#, 0, conflict("send", "namelist", "<content>")),
        (r#"<send><param name="a" expr="1"/><content/></send>"#, 0,
            conflict("send", "<param>", "<content>")),
        (r#"<send type="a" typeexpr="b"/>"#, 15, conflict("send", "type", "typeexpr")),
        (r#"<send id="a" idlocation="b"/>"#, 13, conflict("send", "id", "idlocation")),
        (r#"<send delay="1s" delayexpr="b"/>"#, 17, conflict("send", "delay", "delayexpr")),
        (r#"<cancel/>"#, 0, missing("cancel", "sendid")),
        (r#"<foreach item="x"/>"#, 0, missing("foreach", "array")),
        (r#"<foreach array="x"/>"#, 0, missing("foreach", "item")),
        (r#"<if/>"#, 0, missing("if", "cond")),
        (r#"<else/>"#, 0, unexpected("else", "onentry")),
        (r#"<if cond="a"><foo/></if>"#, 13, unexpected("foo", "if")),
        (r#"<log><raise event="x"/></log>"#, 5, unexpected("raise", "log")),
    ];
    for (content, column, kind) in cases {
        let body = format!("<state><onentry>{content}</onentry></state>");
        assert_error(&body, at(1, BODY + 16 + column), kind);
    }
    let bad_delay = K::BadAttributeValue {
        element: "send".into(),
        attribute: "delay".into(),
        value: "soon".into(),
        expected: "a CSS2 time such as \"2s\" or \"500ms\"".into(),
    };
    let body = r#"<state><onentry><send delay="soon"/></onentry></state>"#;
    assert_error(body, at(1, BODY + 22), bad_delay);
}

/// Each case: a document body, the error's column from the body start, and the error.
#[test]
fn state_content_errors() {
    let initial = r#"<state initial="x"><initial><transition target="x"/></initial>
        <state id="x"/></state>"#;
    #[rustfmt::skip]
    let cases = [
        (initial, 19, conflict("state", "initial", "<initial>")),
        (r#"<datamodel><data id="d" expr="1" src="y"/></datamodel>"#, 33,
            conflict("data", "expr", "src")),
        (r#"<datamodel><data id="d" expr="1">2</data></datamodel>"#, 24,
            conflict("data", "expr", "content")),
        (r#"<datamodel><data expr="1"/></datamodel>"#, 11, missing("data", "id")),
        (r#"<datamodel><state/></datamodel>"#, 11, unexpected("state", "datamodel")),
        (r#"<state><invoke src="a"><content/></invoke></state>"#, 7,
            conflict("invoke", "src", "<content>")),
        (r#"<state><invoke src="a" srcexpr="b"/></state>"#, 23,
            conflict("invoke", "src", "srcexpr")),
        (r#"<state><history><state/></history></state>"#, 16, unexpected("state", "history")),
        (r#"<parallel><initial/></parallel>"#, 10, unexpected("initial", "parallel")),
        (r#"<log expr="1"/>"#, 0, unexpected("log", "scxml")),
        (r#"<final><raise/></final>"#, 7, unexpected("raise", "final")),
    ];
    for (body, column, kind) in cases {
        assert_error(body, at(1, BODY + column), kind);
    }
}

#[test]
fn bad_targets() {
    let bad = |body: &str| match error(&scxml(body)).kind {
        K::BadTarget { .. } => {}
        other => panic!("{other:?}"),
    };
    bad(r#"<state id="a" initial="b"/><state id="b"/>"#);
    bad(r#"<state id="a"><initial><transition target="b"/></initial>
           <state/></state><state id="b"/>"#);
    bad(
        r#"<state id="a"><state/><history><transition target="b"/></history>
           </state><state id="b"/>"#,
    );
    bad(r#"<state id="a"><state/><history id="h"><transition target="h"/></history></state>"#);
    let e = error(&scxml(r#"<state><history/></state>"#));
    assert!(matches!(e.kind, K::Invalid { .. }), "{e}");
    let e = error(&scxml(""));
    assert!(matches!(e.kind, K::Invalid { .. }), "{e}");
}

#[test]
fn limits_and_load_failures() {
    let limits = Limits {
        states_max: 3,
        ..Limits::default()
    };
    let text = scxml("<state/><state/>\n<state/>");
    let e = compile(&text, "t", &mut NoLoader, &limits).expect_err("too many states");
    assert_eq!(
        (e.position, e.kind),
        (
            at(2, 1),
            K::Limit {
                what: "states",
                limit: 3
            }
        )
    );
    let limits = Limits {
        depth_max: 3,
        ..Limits::default()
    };
    let text = scxml("<state><state>\n<state/></state></state>");
    let e = compile(&text, "t", &mut NoLoader, &limits).expect_err("too deep");
    assert_eq!(
        (e.position, e.kind),
        (
            at(2, 1),
            K::Limit {
                what: "nesting levels",
                limit: 3
            }
        )
    );
    let e = error(&scxml(
        "<state><onentry>\n  <script src=\"x.js\"/></onentry></state>",
    ));
    let reason = "no loader configured for 'x.js'".to_string();
    assert_eq!(
        (e.position, e.kind),
        (
            at(2, 11),
            K::Load {
                src: "x.js".into(),
                reason
            }
        )
    );
}

#[test]
fn delay_literals_are_css2_times() {
    assert_eq!(parse_delay_ms("1s"), Some(1000));
    assert_eq!(parse_delay_ms("500ms"), Some(500));
    assert_eq!(parse_delay_ms(" .5s "), Some(500));
    assert_eq!(parse_delay_ms("1.5s"), Some(1500));
    assert_eq!(parse_delay_ms("0s"), Some(0));
    for bad in ["", "1", "s", "-1s", "1e3ms", "1.2.3s", "infs", "1 s"] {
        assert_eq!(parse_delay_ms(bad), None, "{bad:?}");
    }
}

#[test]
fn null_datamodel_late_binding_and_uses_in() {
    let d = doc(
        r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" datamodel="null" binding="late">
      <state id="s"><datamodel><data id="v" expr="1"/></datamodel>
      <transition cond="In('s')" target="s"/></state></scxml>"#,
    );
    assert_eq!(d.datamodel, crate::model::DatamodelKind::Null);
    assert_eq!(d.binding, crate::model::Binding::Late);
    assert!(d.uses_in && !d.uses_event);
    assert_eq!(d.states[1].data, 0..1);
    assert_eq!(d.data[0].state, StateIdx(1));
}

#[test]
fn two_hundred_states_compile_fast() {
    let mut body = String::new();
    for i in 0..200 {
        let next = (i + 1) % 200;
        body.push_str(&format!(
            "<state id=\"s{i}\"><onentry><log expr=\"'{i}'\"/></onentry>\
             <transition event=\"go\" cond=\"x > {i}\" target=\"s{next}\"/></state>"
        ));
    }
    let text = scxml(&body);
    let start = std::time::Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        doc(&text);
    }
    let each = start.elapsed() / rounds;
    // Debug builds are ~10x slower than release; the bound is for a debug build.
    assert!(each < std::time::Duration::from_millis(20), "{each:?}");
}

/// Deterministic mutations of the W3C documents (cut, repeat, splice SCXML fragments)
/// must compile or fail cleanly, never panic. The fuzz target does this at length.
#[test]
fn mutated_documents_never_panic() {
    const FRAGMENTS: [&str; 12] = [
        "<",
        "&",
        "&#0;",
        "\"",
        "<state>",
        "</if>",
        "<if cond='a'>",
        "<elseif/>",
        "<else/>",
        "<foreach array='a' item='b'>",
        "<content><scxml xmlns:q='u'><q:x/></scxml>",
        "]]>",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    for name in [
        "test144.scxml",
        "test147.scxml",
        "test215.scxml",
        "test226.scxml",
        "test387.scxml",
        "test530.scxml",
        "test557.scxml",
        "test579.scxml",
    ] {
        let text = std::fs::read_to_string(format!("{W3C_DIR}/{name}")).expect("readable");
        for _ in 0..300 {
            let (a, b) = (next(text.len()), next(text.len()));
            let (a, b) = (a.min(b), a.max(b));
            let (Some(head), Some(tail)) = (text.get(..a), text.get(b..)) else {
                continue;
            };
            let middle = match next(3) {
                0 => "",
                1 => FRAGMENTS[next(FRAGMENTS.len())],
                _ => text.get(a..b).unwrap_or(""),
            };
            let mutated = format!("{head}{middle}{middle}{tail}");
            let mut loader = DirLoader(PathBuf::from(W3C_DIR));
            let _ = compile(&mutated, name, &mut loader, &Limits::default());
        }
    }
}

/// Executable content must be inside `<onentry>`, `<onexit>` or `<transition>`; standing
/// directly in a state it is an author's mistake, reported with its position.
#[test]
fn executable_content_directly_in_a_state_is_rejected() {
    assert_error(
        r#"<state id="s"><assign location="v" expr="1"/></state>"#,
        Position {
            line: 1,
            column: 76,
        },
        unexpected("assign", "state"),
    );
}

/// A document declaring the `session` prefix for the Baton session namespace; `body` starts
/// on line 2, column 1.
fn baton(body: &str) -> String {
    let ns = crate::extension::SESSION_NS;
    format!("<scxml xmlns=\"{SCXML_NS}\" xmlns:session=\"{ns}\" version=\"1.0\">\n{body}</scxml>")
}

fn baton_error(body: &str) -> CompileError {
    error(&baton(body))
}

#[test]
fn baton_actions_compile_to_extension_instructions() {
    let d = doc(&baton(
        r#"<state id="s"><transition event="ask">
             <session:response statusexpr="201 + 1" namelist="a b">
               <param name="p" expr="1"/><x:note xmlns:x="urn:x"/>
             </session:response>
             <session:response requestid="r1" status="404"><content expr="'no'"/></session:response>
           </transition></state>"#,
    ));
    assert_eq!(d.extensions.len(), 2);
    let first = &d.extensions[0];
    assert_eq!(first.kind, crate::extension::ActionKind::SessionResponse);
    assert!(matches!(first.args[..], [None, Some(Dyn::Expr(_))]));
    assert_eq!(first.payload.namelist.len(), 2);
    assert_eq!(&*first.payload.params[0].name, "p");
    assert_eq!(first.position, at(3, 14));
    let second = &d.extensions[1];
    assert!(matches!(&second.args[0], Some(Dyn::Literal(r)) if &**r == "r1"));
    assert!(matches!(&second.args[1], Some(Dyn::Literal(s)) if &**s == "404"));
    assert!(matches!(second.payload.content, Some(Content::Expr(_))));
    let s = state(&d, "s");
    let body = d.transitions[d.state(s).transitions.start as usize].body;
    let instrs = &d.instrs[body.start as usize..body.end as usize];
    assert!(matches!(
        instrs,
        [
            Instr::Extension(crate::model::ExtensionIdx(0)),
            Instr::Extension(crate::model::ExtensionIdx(1))
        ]
    ));
}

#[test]
fn unknown_baton_elements_are_errors_with_their_position() {
    let e = baton_error("<state>\n  <onentry><session:respond/></onentry></state>");
    assert_eq!(e.position, at(3, 12), "{e}");
    let ns = crate::extension::SESSION_NS;
    let expected = K::UnknownExtension {
        element: "session:respond".into(),
        namespace: ns.into(),
        known: "fetch, start, response".into(),
    };
    assert_eq!(e.kind, expected);
    assert!(e
        .to_string()
        .starts_with("t.scxml:3:12: <session:respond> is not a Baton action"));
    // A module Baton does not have is no better, even inside ignored foreign content.
    let text = "<state><onentry><x:y xmlns:x=\"urn:x\">\n <q:submit \
                xmlns:q=\"http://baton.dev/scxml/nope\"/></x:y></onentry></state>";
    let e = baton_error(text);
    assert_eq!(e.position, at(3, 2), "{e}");
    assert!(matches!(&e.kind, K::UnknownExtension { known, .. } if known == "none"));
}

#[test]
fn baton_actions_stand_only_in_executable_content() {
    let e = baton_error("<state>\n<session:response/></state>");
    assert_eq!(
        (e.position, e.kind),
        (at(3, 1), unexpected("session:response", "state"))
    );
    let body = "<state><onentry><send event=\"e\">\n<session:response/></send></onentry></state>";
    let e = baton_error(body);
    assert_eq!(
        (e.position, e.kind),
        (at(3, 1), unexpected("session:response", "send"))
    );
    let body = "<state><onentry><session:response>\n<session:response/>\
                </session:response></onentry></state>";
    let e = baton_error(body);
    let parent = "session:response";
    assert_eq!(
        (e.position, e.kind),
        (at(3, 1), unexpected("session:response", parent))
    );
}

#[test]
fn baton_action_attributes_are_checked() {
    let e = baton_error("<state><onentry>\n<session:response stauts=\"200\"/></onentry></state>");
    let kind = K::UnknownAttribute {
        element: "session:response".into(),
        attribute: "stauts".into(),
    };
    assert_eq!((e.position, e.kind), (at(3, 19), kind));
    let e = baton_error(
        "<state><onentry>\n<session:response status=\"2\" statusexpr=\"3\"/></onentry></state>",
    );
    let kind = conflict("session:response", "status", "statusexpr");
    assert_eq!((e.position, e.kind), (at(3, 30), kind));
    let e = baton_error("<state><onentry>\n<session:response status=\"ok\"/></onentry></state>");
    assert!(
        matches!(&e.kind, K::BadAttributeValue { value, .. } if value == "ok"),
        "{e}"
    );
    assert_eq!(e.position, at(3, 19));
    let e = baton_error(
        "<state><onentry>\n<session:response namelist=\"a\"><content>x</content>\
         </session:response></onentry></state>",
    );
    assert_eq!(
        e.kind,
        conflict("session:response", "namelist", "<content>")
    );
}

/// The compile rules of the routing actions (queue:, ixn:, session:fetch/start).
#[path = "extension_tests.rs"]
mod extension_tests;
