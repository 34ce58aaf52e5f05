//! `baton serve` on two shards, end to end: the real binary, one listener that both shards
//! accept on (SO_REUSEPORT), keep-alive HTTP/1.1 connections from std sockets.
//!
//! The kernel spreads connections over the shards by a hash, so a test opens connections
//! until it holds one accepted by each shard: it starts a session on each new connection,
//! and the session id names the shard that accepted it (sessions start where they land).
//! Requests on that connection are then answered by that shard, and those naming the other
//! shard's sessions must be forwarded over the mesh.

mod support;

use std::time::{Duration, Instant};

use runtime::shard::{SessionId, ShardId};
use serde_json::json;

use support::{allow_documents, free_port, metric, Connection, SAMPLE};

/// How long to try reaching both shards. Each connection lands on a given shard with
/// probability about 1/2 once both listen, but a shard binds its socket when it has started,
/// which under load can be a while after the first one accepts.
const BOTH_SHARDS_WITHIN: Duration = Duration::from_secs(10);

/// `baton serve` on cores 0 and 1.
struct Server(support::Server);

impl Server {
    /// `baton serve` on cores 0 and 1 with a fresh port and temp dir.
    fn start() -> Server {
        let port = free_port();
        let text = format!(
            "[runtime]\ncores = [0, 1]\nio_memory_bytes = 1048576\n\n[limits]\n\
             sessions_per_shard_max = 1000\n\n[[listener]]\nname = \"api\"\n\
             address = \"127.0.0.1:{port}\"\n\n{}",
            allow_documents(&[])
        );
        Server(support::Server::start("shards", &text, port))
    }

    /// Writes a document into the server's temp dir; returns its path.
    fn document(&self, name: &str, text: &str) -> String {
        self.0.dir().write(name, text).display().to_string()
    }

    fn connect(&self) -> Connection {
        Connection::open(self.0.port)
    }

    /// A connection accepted by each shard, with the session started on it (on that shard).
    fn connection_per_shard(&self, src: &str) -> [(Connection, String); 2] {
        let mut found: [Option<(Connection, String)>; 2] = [None, None];
        let deadline = Instant::now() + BOTH_SHARDS_WITHIN;
        while Instant::now() < deadline {
            let mut connection = self.connect();
            let id = connection.start(src, json!({}));
            let shard = shard_of(&id);
            if found[shard].is_none() {
                found[shard] = Some((connection, id));
            }
            if found.iter().all(Option::is_some) {
                return found.map(|f| f.expect("found"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("every connection for {BOTH_SHARDS_WITHIN:?} landed on one shard");
    }

    /// Stops the server with SIGTERM and checks it exits cleanly.
    fn stop(self) {
        let (status, _) = self.0.stop();
        assert!(status.success(), "exit status {status}");
    }
}

/// The shard a session id names.
fn shard_of(id: &str) -> usize {
    let id: SessionId = id.parse().expect("a session id");
    id.shard().index()
}

#[test]
fn requests_for_another_shards_session_are_forwarded() {
    let server = Server::start();
    let [(mut on_zero, zero), (mut on_one, one)] = server.connection_per_shard(SAMPLE);
    assert_eq!((shard_of(&zero), shard_of(&one)), (0, 1));

    // Shard 1 answers for shard 0's session, and the other way round.
    let (status, body) = on_one.query(&zero);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessionid"], json!(zero));
    assert_eq!(body["configuration"], json!(["call", "waiting"]));
    let (status, body) = on_zero.query(&one);
    assert_eq!((status, &body["sessionid"]), (200, &json!(one)), "{body}");

    let event = format!("/scxml/session/{zero}/event/call.offered");
    let (status, body) = on_one.json("POST", &event, r#"{"language": "fr"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["queued"], json!(true));
    let body = on_one.await_state(&zero, "queued");
    assert_eq!(body["datamodel"]["queue"], json!("support-fr"), "{body}");

    let terminate = format!("/scxml/session/{zero}/terminate");
    let (status, body) = on_one.json("POST", &terminate, "");
    assert_eq!((status, &body["terminated"]), (200, &json!(true)), "{body}");
    assert_eq!(on_zero.query(&zero).0, 404, "terminated on its home shard");
    assert_eq!(
        on_one.query(&zero).0,
        404,
        "and gone when asked from the other"
    );
    let (status, body) = on_one.json("POST", &event, "");
    assert_eq!(status, 404, "an event for an ended session: {body}");

    // An id naming a shard that does not run, and text that is no id: no such session.
    let elsewhere = SessionId::new(ShardId(7), 1, 1).to_string();
    for id in [elsewhere.as_str(), "not-an-id"] {
        let (status, body) = on_zero.query(id);
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(body["error"], json!("no such session"));
        let path = format!("/scxml/session/{id}/event/x");
        assert_eq!(on_one.json("POST", &path, "").0, 404, "{id}");
    }
    drop((on_zero, on_one));
    server.stop();
}

/// Answers each `ask` request with the asker's name.
const RESPONDER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    xmlns:session="http://baton.dev/scxml/session" datamodel="ecmascript" initial="open">
  <state id="open">
    <transition event="ask">
      <session:response><param name="hello" expr="_event.data.name"/></session:response>
    </transition>
  </state>
</scxml>"#;

#[test]
fn requests_are_answered_by_sessions_on_another_shard() {
    let server = Server::start();
    let src = server.document("responder.scxml", RESPONDER);
    let [(mut on_zero, zero), (mut on_one, one)] = server.connection_per_shard(&src);
    for (connection, id) in [(&mut on_one, &zero), (&mut on_zero, &one)] {
        let path = format!("/scxml/session/{id}/request/ask");
        let (status, body) = connection.json("POST", &path, r#"{"name": "ada"}"#);
        assert_eq!((status, &body), (200, &json!({"hello": "ada"})), "{id}");
    }
    drop((on_zero, on_one));
    server.stop();
}

const SENDER: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="idle">
  <datamodel><data id="peer" expr="''"/><data id="acked_by" expr="''"/></datamodel>
  <state id="idle">
    <transition event="go" target="sent">
      <send event="hello" targetexpr="'#_scxml_' + peer"><param name="n" expr="42"/></send>
    </transition>
  </state>
  <state id="sent">
    <transition event="ack" target="acked">
      <assign location="acked_by" expr="_event.origin"/>
    </transition>
    <transition event="error.communication" target="refused"/>
  </state>
  <state id="acked"/>
  <state id="refused"/>
</scxml>"##;

const RECEIVER: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="waiting">
  <datamodel><data id="got" expr="0"/><data id="origin" expr="''"/></datamodel>
  <state id="waiting">
    <transition event="hello" target="received">
      <assign location="got" expr="_event.data.n"/>
      <assign location="origin" expr="_event.origin"/>
      <send event="ack" targetexpr="_event.origin"/>
    </transition>
  </state>
  <state id="received"/>
</scxml>"##;

#[test]
fn scxml_sends_reach_sessions_on_another_shard() {
    let server = Server::start();
    let sender = server.document("sender.scxml", SENDER);
    let receiver = server.document("receiver.scxml", RECEIVER);
    let [(mut on_zero, _), (mut on_one, _)] = server.connection_per_shard(&receiver);
    // The receiver on shard 1, the sender on shard 0.
    let target = on_one.start(&receiver, json!({}));
    let source = on_zero.start(&sender, json!({ "peer": target }));
    assert_eq!((shard_of(&source), shard_of(&target)), (0, 1));

    let go = format!("/scxml/session/{source}/event/go");
    assert_eq!(on_zero.json("POST", &go, "").0, 200);
    // Asked from shard 0: the receiver's datamodel (on shard 1) shows the event.
    let body = on_zero.await_state(&target, "received");
    assert_eq!(body["datamodel"]["got"].as_f64(), Some(42.0), "{body}");
    assert_eq!(
        body["datamodel"]["origin"],
        json!(format!("#_scxml_{source}"))
    );
    // The reply to `_event.origin` crossed back.
    let body = on_one.await_state(&source, "acked");
    assert_eq!(
        body["datamodel"]["acked_by"],
        json!(format!("#_scxml_{target}"))
    );

    // A target on a shard that does not run: error.communication in the sender.
    let nowhere = SessionId::new(ShardId(9), 1, 1).to_string();
    let lost = on_zero.start(&sender, json!({ "peer": nowhere }));
    let go = format!("/scxml/session/{lost}/event/go");
    assert_eq!(on_one.json("POST", &go, "").0, 200);
    on_one.await_state(&lost, "refused");
    // An id of the other shard whose session does not exist is queued (the home shard
    // drops it) and counted there: the sender cannot know it at send time.
    let ended = SessionId::new(ShardId(1), 3, 3).to_string();
    let late = on_zero.start(&sender, json!({ "peer": ended }));
    let go = format!("/scxml/session/{late}/event/go");
    assert_eq!(on_zero.json("POST", &go, "").0, 200);
    on_zero.await_state(&late, "sent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&on_zero.send("GET", "/metrics", "").1, DROPPED_ON_ONE) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the dropped event was never counted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop((on_zero, on_one));
    server.stop();
}

const DROPPED_ON_ONE: &str = "baton_mesh_events_dropped_total{shard=\"1\"}";

const PARENT: &str = r##"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" initial="running">
  <datamodel><data id="heard" expr="''"/></datamodel>
  <state id="running">
    <invoke id="child" type="scxml">
      <content>
        <scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="ecmascript"
            initial="c">
          <state id="c">
            <onentry><send event="ready" target="#_parent"/></onentry>
            <transition event="ping"><send event="pong" target="#_parent"/></transition>
          </state>
        </scxml>
      </content>
    </invoke>
    <transition event="ready"><send event="ping" target="#_child"/></transition>
    <transition event="pong" target="talked">
      <assign location="heard" expr="_event.name + ' from ' + _event.invokeid"/>
    </transition>
  </state>
  <state id="talked"/>
</scxml>"##;

#[test]
fn invoked_children_talk_to_their_parent_on_its_shard() {
    let server = Server::start();
    let parent = server.document("parent.scxml", PARENT);
    let [(mut on_zero, _), (mut on_one, _)] = server.connection_per_shard(SAMPLE);
    let parents = [
        on_zero.start(&parent, json!({})),
        on_one.start(&parent, json!({})),
    ];
    assert_eq!(parents.each_ref().map(|id| shard_of(id)), [0, 1]);
    // #_parent and #_child stay on the parent's shard; each is asked from the other shard.
    for (id, other) in parents.iter().zip([&mut on_one, &mut on_zero]) {
        let body = other.await_state(id, "talked");
        assert_eq!(
            body["datamodel"]["heard"],
            json!("pong from child"),
            "{body}"
        );
    }
    drop((on_zero, on_one));
    server.stop();
}

#[test]
fn metrics_health_and_sessions_cover_every_shard() {
    let server = Server::start();
    let [(mut on_zero, zero), (mut on_one, one)] = server.connection_per_shard(SAMPLE);
    // A forwarded request, counted where it was answered (shard 1).
    assert_eq!(on_one.query(&zero).0, 200);

    let (status, health) = on_zero.json("GET", "/health", "");
    assert_eq!(status, 200, "{health}");
    let sessions = health["sessions"].as_u64().expect("a count");
    assert!(sessions >= 2, "{health}");
    let shards = health["shards"].as_array().expect("per shard");
    assert_eq!(shards.len(), 2, "{health}");
    let per_shard: u64 = shards.iter().map(|s| s["sessions"].as_u64().unwrap()).sum();
    assert_eq!(per_shard, sessions);
    assert_eq!(
        on_one.json("GET", "/health", "").1["sessions"],
        json!(sessions)
    );

    for connection in [&mut on_zero, &mut on_one] {
        let (status, text) = connection.send("GET", "/metrics", "");
        assert_eq!(status, 200);
        assert_families_once(&text);
        for shard in ["0", "1"] {
            assert_eq!(
                metric(&text, &format!("baton_shard_up{{shard=\"{shard}\"}}")),
                1.0
            );
        }
        let started: f64 = ["0", "1"]
            .map(|s| {
                metric(
                    &text,
                    &format!("baton_sessions_started_total{{shard=\"{s}\"}}"),
                )
            })
            .iter()
            .sum();
        assert_eq!(
            started, sessions as f64,
            "every start counted once:\n{text}"
        );
        let forwarded = "baton_requests_forwarded_total{shard=\"1\"}";
        assert!(metric(&text, forwarded) >= 1.0, "{text}");
    }

    // Pages of one, from either shard: every session once, in the same order.
    let list = |connection: &mut Connection| -> Vec<String> {
        (0..sessions)
            .map(|offset| {
                let path = format!("/scxml/sessions?offset={offset}&limit=1");
                let (status, body) = connection.json("GET", &path, "");
                assert_eq!((status, &body["total"]), (200, &json!(sessions)), "{body}");
                let page = body["sessions"].as_array().expect("a page").clone();
                assert_eq!(page.len(), 1, "{body}");
                page[0].as_str().expect("an id").to_string()
            })
            .collect()
    };
    let from_zero = list(&mut on_zero);
    assert_eq!(from_zero, list(&mut on_one));
    let shards: Vec<usize> = from_zero.iter().map(|id| shard_of(id)).collect();
    assert!(
        shards.windows(2).all(|w| w[0] <= w[1]),
        "by shard: {shards:?}"
    );
    assert!(from_zero.contains(&zero) && from_zero.contains(&one));
    let (_, whole) = on_one.json("GET", "/scxml/sessions", "");
    assert_eq!(whole["sessions"], json!(from_zero));
    let past = format!("/scxml/sessions?offset={sessions}");
    assert_eq!(on_zero.json("GET", &past, "").1["sessions"], json!([]));
    drop((on_zero, on_one));
    server.stop();
}

/// Checks the exposition names each family in one `# HELP` and one `# TYPE`, before its
/// samples, and that every sample belongs to the family last typed.
fn assert_families_once(text: &str) {
    let mut typed: Vec<&str> = Vec::new();
    let mut helped: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("a name");
            assert!(!helped.contains(&name), "HELP twice: {name}");
            helped.push(name);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().expect("a name");
            assert!(!typed.contains(&name), "TYPE twice: {name}");
            typed.push(name);
        } else {
            let family = typed.last().expect("a TYPE before samples");
            let name = line.split('{').next().expect("a name");
            let base = name
                .strip_suffix("_sum")
                .or_else(|| name.strip_suffix("_count"))
                .unwrap_or(name);
            assert_eq!(base, *family, "{line}");
        }
    }
    assert_eq!(typed, helped);
}
