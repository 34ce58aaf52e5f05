//! `<xi:include>` as Composer projects use it: JavaScript pulled into a `<script>`, a
//! workflow included under a prefix, and errors that name the included file.

use super::{compile, Loader};
use crate::error::CompileErrorKind;
use crate::limits::Limits;
use crate::model::Document;

/// Files by the `href` a document gives, and the base each was asked from.
struct Files {
    files: Vec<(&'static str, String)>,
    asked: Vec<(String, String)>,
}

impl Loader for Files {
    fn load(&mut self, base: &str, src: &str) -> Result<String, String> {
        self.asked.push((base.to_owned(), src.to_owned()));
        let found = self.files.iter().find(|(name, _)| *name == src);
        found
            .map(|(_, text)| text.clone())
            .ok_or_else(|| format!("no such file {src}"))
    }
}

fn files(list: &[(&'static str, &str)]) -> Files {
    Files {
        files: list.iter().map(|(n, t)| (*n, t.to_string())).collect(),
        asked: Vec::new(),
    }
}

const COMMON_JS: &str = "function smaller(a, b) { return a < b && b > 0 ? a : b; }\n\
                         Date.fromISOString = function (s) { return s; };";

/// A Composer workflow, as Composer 8.1 writes one: plain state ids, the prefix
/// placeholder in targets, `initial`s and event names, `_my_prefix` tagging the events it
/// sends itself, an entry state to include and a final state for being read on its own.
const WORKFLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" profile="ecmascript"
    xmlns:queue="http://www.genesyslab.com/modules/queue" initial="_composer_noboot">
  <final id="_composer_noboot"/>
  <state id="_composer_entry" initial="$$_MY_PREFIX_$$.Entry1">
    <state id="Entry1">
      <onentry><send event="'Entry1.done'"><param name="resolveid" expr="_my_prefix"/></send>
      </onentry>
      <transition event="Entry1.done" cond="_event.data.resolveid == _my_prefix"
        target="$$_MY_PREFIX_$$.Exit"/>
    </state>
    <final id="Exit"/>
  </state>
</scxml>
"#;

/// The entry document: the project's JavaScript and the workflow under `R`.
fn ipd(xpointer: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" profile="ecmascript"
    xmlns:xi="http://www.w3.org/2001/XInclude" initial="ipd">
  <script><xi:include href="../include/common.js" parse="text"/></script>
  <state id="ipd" initial="R._composer_entry">
    <xi:include href="Main.scxml" parse="xml" {xpointer} resolveid="R"/>
    <transition event="done.state.R._composer_entry" target="end"/>
  </state>
  <final id="end"/>
</scxml>
"#
    )
}

fn compiled(text: &str, loader: &mut Files) -> Document {
    let compiled = compile(text, "/app/src-gen/IPD.scxml", loader, &Limits::default());
    compiled.unwrap_or_else(|e| panic!("{e}"))
}

fn ids(doc: &Document) -> Vec<&str> {
    let mut ids: Vec<&str> = doc.states.iter().map(|s| &*s.id).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_composer_entry_document_includes_its_javascript_and_its_workflow_under_a_prefix() {
    let pointers = [
        "xpointer=\"_composer_entry\"",
        "xpointer=\"element(_composer_entry)\"",
        "xpointer=\"element(/1/2)\"",
    ];
    for xpointer in pointers {
        let mut loader = files(&[
            ("../include/common.js", COMMON_JS),
            ("Main.scxml", WORKFLOW),
        ]);
        let doc = compiled(&ipd(xpointer), &mut loader);
        let script = &doc.exprs[doc.scripts[0].0 as usize].text;
        assert_eq!(
            &**script, COMMON_JS,
            "the script is the file's text, unescaped"
        );
        let ids = ids(&doc);
        for id in ["R._composer_entry", "R.Entry1", "R.Exit", "ipd", "end"] {
            assert!(ids.contains(&id), "{id} missing from {ids:?} ({xpointer})");
        }
        assert!(!ids.iter().any(|id| id.contains("noboot")), "{ids:?}");
        let texts: Vec<&str> = doc.exprs.iter().map(|e| &*e.text).collect();
        assert!(
            texts.contains(&"'R'"),
            "_my_prefix is 'R' in the workflow: {texts:?}"
        );
        let cond = "_event.data.resolveid == 'R'";
        assert!(texts.contains(&cond), "{texts:?}");
        // Each href was asked relative to the document that names it.
        assert!(loader
            .asked
            .iter()
            .all(|(base, _)| base == "/app/src-gen/IPD.scxml"));
    }
}

#[test]
fn a_workflow_read_alone_has_plain_ids_and_starts_in_its_noboot_state() {
    let doc = compiled(WORKFLOW, &mut files(&[]));
    let ids = ids(&doc);
    assert!(
        ids.contains(&"Entry1") && ids.contains(&"_composer_noboot"),
        "{ids:?}"
    );
    let initial = doc.states[0]
        .initial
        .expect("the root's initial transition");
    let target = doc.transition(initial).targets[0];
    assert_eq!(&*doc.state(target).id, "_composer_noboot");
    assert!(
        doc.exprs.iter().any(|e| &*e.text == "''"),
        "_my_prefix is '' alone"
    );
}

#[test]
fn errors_in_an_included_file_name_that_file_and_its_line() {
    let broken = WORKFLOW.replace(
        "<final id=\"Exit\"/>",
        "<final id=\"Exit\"/>\n    <transition target=\"nowhere\"/>",
    );
    let mut loader = files(&[("../include/common.js", COMMON_JS), ("Main.scxml", &broken)]);
    let text = ipd("xpointer=\"_composer_entry\"");
    let error = compile(
        &text,
        "/app/src-gen/IPD.scxml",
        &mut loader,
        &Limits::default(),
    )
    .expect_err("an unknown target");
    assert_eq!(error.file, "/app/src-gen/Main.scxml", "{error}");
    assert_eq!(error.position.line, 13, "{error}");
    assert!(
        matches!(error.kind, CompileErrorKind::UnknownTarget { .. }),
        "{error}"
    );
}

#[test]
fn missing_files_cycles_and_bad_pointers_are_errors_at_the_include() {
    let text = ipd("xpointer=\"_composer_entry\"");
    let missing = compile(&text, "IPD.scxml", &mut files(&[]), &Limits::default());
    let error = missing.expect_err("no common.js");
    assert_eq!(
        (error.file.as_str(), error.position.line),
        ("IPD.scxml", 4),
        "{error}"
    );
    assert!(
        error.to_string().contains("../include/common.js"),
        "{error}"
    );

    let cycle = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
        xmlns:xi="http://www.w3.org/2001/XInclude"><state id="s">
        <xi:include href="self.scxml" xpointer="element(/1/1)"/></state></scxml>"#;
    let mut loader = files(&[("self.scxml", cycle)]);
    let error = compile(cycle, "self.scxml", &mut loader, &Limits::default())
        .expect_err("an include cycle");
    assert!(error.to_string().contains("nest deeper"), "{error}");

    let mut loader = files(&[
        ("../include/common.js", COMMON_JS),
        ("Main.scxml", WORKFLOW),
    ]);
    let text = ipd("xpointer=\"element(/1/9)\"");
    let error =
        compile(&text, "IPD.scxml", &mut loader, &Limits::default()).expect_err("no ninth child");
    assert!(error.to_string().contains("no child 9"), "{error}");
}
