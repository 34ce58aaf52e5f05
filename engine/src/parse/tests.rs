use super::*;

fn tree(text: &str) -> Tree {
    match parse(text, "t.xml", &Limits::default()) {
        Ok(tree) => tree,
        Err(error) => panic!("{error}"),
    }
}

fn error(text: &str, limits: &Limits) -> CompileError {
    match parse(text, "t.xml", limits) {
        Ok(_) => panic!("parsed: {text}"),
        Err(error) => error,
    }
}

#[test]
fn elements_attributes_and_text() {
    let src = "<a xmlns='urn:x' k=' v\n1 &amp; &#65;'>t &lt; <![CDATA[<c>]]><!--x-->u\
               <p:b xmlns:p='urn:p'/><c/></a>";
    let t = tree(src);
    let root = t.root();
    assert_eq!(t.name(root), "a");
    assert_eq!(t.namespace(root), "urn:x");
    let k = t.attribute(root, "k").map(|a| t.str(a.value));
    assert_eq!(k, Some(" v 1 & A"));
    assert_eq!(t.text(root), "t < <c>u");
    let kids: Vec<ElemIdx> = t.child_elements(root).collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(t.name(kids[0]), "p:b");
    assert_eq!(t.local_name(kids[0]), "b");
    assert_eq!(t.namespace(kids[0]), "urn:p");
    assert_eq!(t.namespace(kids[1]), "urn:x");
    let b = t.element(kids[0]);
    assert_eq!(
        &src[b.outer.start as usize..b.outer.end as usize],
        "<p:b xmlns:p='urn:p'/>"
    );
    assert_eq!(t.element(root).subtree_end, 3);
    let inner = &t.element(root).inner;
    assert!(src[inner.start as usize..inner.end as usize].ends_with("<c/>"));
}

#[test]
fn positions_match_of_offset() {
    let src = "<?xml version='1.0'?>\n<a>\n  <é/><b\n   x='1'/>\r\n<c/></a>";
    let t = tree(src);
    for e in t.elements.iter() {
        assert_eq!(e.position, Position::of_offset(src, e.outer.start as usize));
    }
    let b = t
        .child_elements(t.root())
        .nth(1)
        .map(|b| t.attributes(b)[0].position);
    assert_eq!(b, Some(Position { line: 4, column: 4 }));
}

#[test]
fn malformed_xml_has_a_position() {
    let e = error("<a>\n  <b></c>\n</a>", &Limits::default());
    assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
    assert_eq!(e.position.line, 2);
    let e = error("<a>\n<b>", &Limits::default());
    assert_eq!(e.position, Position { line: 2, column: 1 }, "{e}");
    let e = error("<a>&nope;</a>", &Limits::default());
    assert_eq!(e.position, Position { line: 1, column: 4 }, "{e}");
    let e = error("<a/><b/>", &Limits::default());
    assert_eq!(e.position, Position { line: 1, column: 5 }, "{e}");
    let e = error("<a/>x", &Limits::default());
    assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
    assert!(parse(
        "\u{feff}<?xml version='1.0'?><a/>\n",
        "t",
        &Limits::default()
    )
    .is_ok());
    let e = error("", &Limits::default());
    assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
    let e = error("<q:a/>", &Limits::default());
    assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
}

#[test]
fn namespaces_and_duplicates() {
    let src = "<a xmlns='urn:a' xmlns:p='urn:p'><p:b p:x='1' y='2'><c xmlns='' xmlns:p='urn:q'>\
               <p:d/></c></p:b><e xml:lang='en'/></a>";
    let t = tree(src);
    let ns: Vec<&str> = (0..t.len() as u32)
        .map(|e| t.namespace(ElemIdx(e)))
        .collect();
    assert_eq!(ns, ["urn:a", "urn:p", "", "urn:q", "urn:a"]);
    let b = t.attributes(ElemIdx(1));
    assert_eq!(
        (t.namespace_uri(b[0].namespace), b[1].namespace),
        ("urn:p", 0)
    );
    let lang = t.attributes(ElemIdx(4))[0].namespace;
    assert_eq!(t.namespace_uri(lang), XML_NS);
    let e = error("<a>\n <b x='1' y='2' x='3'/></a>", &Limits::default());
    assert_eq!(
        e.position,
        Position {
            line: 2,
            column: 17
        },
        "{e}"
    );
    let e = error("<a xmlns:p=''/>", &Limits::default());
    assert!(matches!(e.kind, CompileErrorKind::Xml { .. }), "{e}");
    let e = error("<a><p:b xmlns:p='urn:p'/><p:c/></a>", &Limits::default());
    assert_eq!(
        e.position,
        Position {
            line: 1,
            column: 26
        },
        "{e}"
    );
}

#[test]
fn adversarial_inputs_stay_linear() {
    let mut many_attributes = String::from("<a");
    for i in 0..50_000 {
        many_attributes.push_str(&format!(" a{i}='{i}'"));
    }
    many_attributes.push_str("/>");
    let mut many_namespaces = String::from("<a");
    for i in 0..20_000 {
        many_namespaces.push_str(&format!(" xmlns:p{i}='urn:{i}'"));
    }
    many_namespaces.push('>');
    for i in 0..20_000 {
        many_namespaces.push_str(&format!("<p{i}:b p0:c='1'/>"));
    }
    many_namespaces.push_str("</a>");
    let long_line = "<a>".to_string() + &"<b x='1'/>".repeat(100_000) + "</a>";
    for text in [many_attributes, many_namespaces, long_line] {
        let start = std::time::Instant::now();
        let parsed = parse(&text, "t", &Limits::default());
        assert!(parsed.is_ok());
        let elapsed = start.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    }
}

#[test]
fn limits() {
    let limits = Limits {
        depth_max: 3,
        ..Limits::default()
    };
    assert!(parse("<a><b><c/></b></a>", "t", &limits).is_ok());
    let e = error("<a><b><c><d/></c></b></a>", &limits);
    assert_eq!(
        e.kind,
        CompileErrorKind::Limit {
            what: "nesting levels",
            limit: 3
        }
    );
    assert_eq!(
        e.position,
        Position {
            line: 1,
            column: 10
        }
    );
    let limits = Limits {
        document_bytes_max: 4,
        ..Limits::default()
    };
    let e = error("<a></a>", &limits);
    assert_eq!(
        e.kind,
        CompileErrorKind::TooLarge {
            bytes: 7,
            bytes_max: 4
        }
    );
}
