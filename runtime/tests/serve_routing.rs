//! Routing end to end: the real `baton serve`, interactions and agents over its HTTP APIs,
//! agents' desktops reading their offer streams (Server-Sent Events) from real sockets,
//! and an HTTP sink standing in for the SMS and e-mail gateways.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;

use support::routing::{
    answer_offer, await_interaction, create_interaction, put_agent, set_state, Desktop, Sink,
};
use support::{allow_documents, free_port, request, Server, ALLOW_LOOPBACK};

/// The bundled strategy catalogue.
fn strategy(name: &str) -> String {
    format!(
        "{}/samples/strategies/{name}.scxml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A server on one core with one listener, `extra` appended to its configuration.
fn start(tag: &str, extra: &str) -> Server {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[[listener]]\nname = \"api\"\n\
         address = \"127.0.0.1:{port}\"\n\n{extra}\n{}{ALLOW_LOOPBACK}",
        allow_documents(&[])
    );
    Server::start(&format!("routing-{tag}"), &text, port)
}

/// Waits until the session `id` no longer exists (it reached a final state).
fn await_session_end(port: u16, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = request(port, "GET", &format!("/scxml/session/{id}/query"), "");
        if status == 404 {
            return;
        }
        assert!(Instant::now() < deadline, "session {id} never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn mortgage_call_fax_sms_timer_email() {
    let sink = Sink::start(json!({"queued": true}));
    let extra = format!(
        "[[entry_point]]\nname = \"mortgage\"\napplication = \"{}\"\nconversation = \"customer\"\n\n\
         [[gateway]]\nname = \"sms\"\nmedia = \"sms\"\nurl = \"{}\"\nfrom = \"BANK\"\n\n\
         [[gateway]]\nname = \"email\"\nmedia = \"email\"\nurl = \"{}\"\n",
        strategy("mortgage"),
        sink.url("/sms"),
        sink.url("/email"),
    );
    let server = start("mortgage", &extra);
    let port = server.port;
    let mortgage = json!({"skills": {"Mortgage": 7, "English": 5}, "capacity": {"voice": 1},
                          "addresses": {"voice": "sip:alice@pbx.bank"}});
    put_agent(port, "alice", mortgage);
    let novice = json!({"skills": {"Mortgage": 3}, "capacity": {"voice": 1}});
    put_agent(port, "bob", novice);
    let mut alice = Desktop::open(port, "alice");
    set_state(port, "bob", "ready");
    set_state(port, "alice", "ready");

    // The IVR hands the call over with the account number attached.
    let customer = json!({"id": "acct-1001", "ani": "+15551230000", "phone": "+15551230000",
                          "email": "jo@example.com"});
    let (call, session) = create_interaction(
        port,
        json!({"media": "voice", "entry_point": "mortgage", "customer": customer,
               "data": {"account": "1001"}, "params": {"approval_delay_ms": 300}}),
    );
    let offer = alice.expect("offer");
    assert_eq!(offer["interaction"]["id"], call.as_str());
    assert_eq!(offer["interaction"]["data"]["account"], "1001");
    assert_eq!(offer["interaction"]["media"], "voice");
    let (status, accepted) = answer_offer(port, &call, "accept", "alice");
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["state"], "accepted");
    let (_, agent) = request(port, "GET", "/agents/alice", "");
    assert_eq!(agent["media"]["voice"]["load"], 1, "{agent}");

    // The documents arrive by fax: same customer, same session.
    let (status, fax) = request(
        port,
        "POST",
        "/interactions",
        &json!({"media": "fax", "entry_point": "mortgage", "customer": {"id": "acct-1001"},
                "data": {"pages": 4}})
        .to_string(),
    );
    assert_eq!(status, 201, "{fax}");
    assert_eq!(
        fax["session"],
        session.as_str(),
        "the fax joins the conversation"
    );
    assert_eq!(fax["joined"], true);
    let sms = sink.await_request("/sms", 1);
    assert_eq!(sms.json["to"], "+15551230000");
    assert_eq!(sms.json["from"], "BANK");
    assert!(
        sms.json["body"].as_str().unwrap().contains("48 hours"),
        "{:?}",
        sms.json
    );
    let fax_id = fax["interaction"].as_str().unwrap();
    let filed = await_interaction(port, fax_id, "completed");
    assert_eq!(filed["data"]["filed_with"], call.as_str());
    assert_eq!(filed["data"]["account"], "1001");

    // The call ends; the session lives on until the approval.
    let (status, done) = answer_offer(port, &call, "complete", "alice");
    assert_eq!(status, 200, "{done}");
    let email = sink.await_request("/email", 1);
    assert_eq!(email.json["to"], "jo@example.com");
    assert_eq!(email.json["subject"], "Your mortgage pre-approval");
    assert!(email.json["body"].as_str().unwrap().contains("1001"));
    await_session_end(port, &session);
    let (status, _) = request(port, "GET", &format!("/interactions/{call}"), "");
    assert_eq!(status, 404, "the session's interactions go with it");
    assert!(sink.received("/sms").len() == 1, "one SMS only");
}

/// Every strategy of the catalogue behind an entry point of its own name.
fn catalogue(tag: &str) -> Server {
    let entries = [
        ("named", "named_agent", "none"),
        ("group", "group", "none"),
        ("skills", "skills", "none"),
        ("statistic", "by_statistic", "none"),
        ("priority", "priority_raise", "none"),
        ("default", "default_destination", "none"),
        ("chat", "chat", "customer"),
    ];
    let mut extra = String::new();
    for (name, file, conversation) in entries {
        extra += &format!(
            "[[entry_point]]\nname = \"{name}\"\napplication = \"{}\"\n\
             conversation = \"{conversation}\"\n\n",
            strategy(file)
        );
    }
    start(tag, &extra)
}

fn chat(port: u16, entry_point: &str, data: serde_json::Value) -> (String, String) {
    create_interaction(
        port,
        json!({"media": "chat", "entry_point": entry_point, "data": data}),
    )
}

/// An agent taking `chats` chats at once, in `groups`, with `skills`.
fn agent(port: u16, id: &str, groups: &[&str], skills: serde_json::Value, chats: u32) {
    let profile = json!({"skills": skills, "groups": groups,
                         "capacity": {"chat": chats, "email": 1}});
    put_agent(port, id, profile);
}

/// The session's data model, once `check` holds.
fn await_data(
    port: u16,
    session: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = request(port, "GET", &format!("/scxml/session/{session}/query"), "");
        assert_eq!(status, 200, "{body}");
        if check(&body["datamodel"]) {
            return body["datamodel"].clone();
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn to_a_named_agent_who_becomes_ready() {
    let server = catalogue("named");
    let port = server.port;
    agent(port, "carol", &[], json!({}), 1);
    agent(port, "dave", &[], json!({}), 1);
    let mut carol = Desktop::open(port, "carol");
    let mut dave = Desktop::open(port, "dave");
    set_state(port, "dave", "ready");
    let (id, session) = chat(port, "named", json!({"banker": "carol"}));
    await_interaction(port, &id, "queued");
    set_state(port, "carol", "ready");
    let offer = carol.expect("offer");
    assert_eq!(offer["interaction"]["id"], id.as_str());
    assert_eq!(answer_offer(port, &id, "accept", "carol").0, 200);
    assert_eq!(answer_offer(port, &id, "complete", "carol").0, 200);
    await_session_end(port, &session);
    // Dave was ready all along and got nothing: a second chat for him shows his stream.
    let (other, _) = chat(port, "named", json!({"banker": "dave"}));
    assert_eq!(dave.expect("offer")["interaction"]["id"], other.as_str());
}

#[test]
fn to_a_group_member_idle_longest() {
    let server = catalogue("group");
    let port = server.port;
    for id in ["g1", "g2", "g3"] {
        let groups: &[&str] = if id == "g3" { &["Sales"] } else { &["Loans"] };
        agent(port, id, groups, json!({}), 1);
    }
    let mut g1 = Desktop::open(port, "g1");
    set_state(port, "g3", "ready");
    set_state(port, "g1", "ready");
    std::thread::sleep(Duration::from_millis(5));
    set_state(port, "g2", "ready");
    let (id, _) = chat(port, "group", json!({}));
    assert_eq!(g1.expect("offer")["interaction"]["id"], id.as_str());
    let (_, g1_view) = request(port, "GET", "/agents/g1", "");
    assert_eq!(g1_view["offers"], json!([id]), "{g1_view}");
}

#[test]
fn by_skill_expression_then_rejected_and_rerouted() {
    let server = catalogue("skills");
    let port = server.port;
    agent(port, "b1", &[], json!({"Billing": 9, "English": 5}), 1);
    agent(port, "b2", &[], json!({"Billing": 6, "English": 4}), 1);
    agent(port, "b3", &[], json!({"Billing": 9, "English": 1}), 1);
    let mut b1 = Desktop::open(port, "b1");
    let mut b2 = Desktop::open(port, "b2");
    for id in ["b1", "b2", "b3"] {
        set_state(port, id, "ready");
    }
    let (id, session) = chat(port, "skills", json!({}));
    assert_eq!(
        b1.expect("offer")["interaction"]["id"],
        id.as_str(),
        "the most skilled"
    );
    let (status, rejected) = answer_offer(port, &id, "reject", "b1");
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(
        b2.expect("offer")["interaction"]["id"],
        id.as_str(),
        "the next one, not b1"
    );
    assert_eq!(answer_offer(port, &id, "accept", "b2").0, 200);
    let data = await_data(port, &session, |data| data["rejections"] == json!(["b1"]));
    assert_eq!(data["rejections"], json!(["b1"]));
    let (_, b1_view) = request(port, "GET", "/agents/b1", "");
    assert_eq!(
        b1_view["media"]["chat"]["load"], 0,
        "the rejection freed b1: {b1_view}"
    );
}

#[test]
fn by_statistic_to_the_group_with_ready_agents() {
    let server = catalogue("statistic");
    let port = server.port;
    agent(port, "t1", &["Tier1"], json!({}), 1);
    agent(port, "o1", &["Overflow"], json!({}), 1);
    let mut o1 = Desktop::open(port, "o1");
    let mut t1 = Desktop::open(port, "t1");
    set_state(port, "o1", "ready");
    let (first, session) = chat(port, "statistic", json!({}));
    assert_eq!(o1.expect("offer")["interaction"]["id"], first.as_str());
    let data = await_data(port, &session, |data| !data["chosen"].is_null());
    assert_eq!(data["chosen"], "group:Overflow");
    assert_eq!(data["tier1"]["ready"], 0);
    set_state(port, "t1", "ready");
    let (second, session) = chat(port, "statistic", json!({}));
    assert_eq!(t1.expect("offer")["interaction"]["id"], second.as_str());
    let data = await_data(port, &session, |data| !data["chosen"].is_null());
    assert_eq!(data["chosen"], "group:Tier1");
    assert_eq!(data["tier1"]["ready"], 1);
    assert_eq!(data["tier1"]["logged_in"], 1);
}

#[test]
fn priority_raised_while_waiting_goes_first() {
    let server = catalogue("priority");
    let port = server.port;
    agent(port, "s1", &["Support"], json!({}), 1);
    let mut s1 = Desktop::open(port, "s1");
    let body = |vip: bool| {
        json!({"media": "chat", "entry_point": "priority", "data": {"vip": vip},
               "params": {"raise_after_ms": 100}})
    };
    let (early, _) = create_interaction(port, body(false));
    let (vip, _) = create_interaction(port, body(true));
    await_interaction(port, &early, "queued");
    std::thread::sleep(Duration::from_millis(400));
    set_state(port, "s1", "ready");
    assert_eq!(
        s1.expect("offer")["interaction"]["id"],
        vip.as_str(),
        "the VIP jumps ahead"
    );
    assert_eq!(answer_offer(port, &vip, "accept", "s1").0, 200);
    assert_eq!(answer_offer(port, &vip, "complete", "s1").0, 200);
    assert_eq!(s1.expect("offer")["interaction"]["id"], early.as_str());
}

#[test]
fn default_destination_after_the_queue_times_out() {
    let server = catalogue("default");
    let port = server.port;
    agent(port, "voicemail", &[], json!({}), 10);
    let mut voicemail = Desktop::open(port, "voicemail");
    set_state(port, "voicemail", "ready");
    let started = Instant::now();
    let (id, _) = create_interaction(
        port,
        json!({"media": "chat", "entry_point": "default", "params": {"wait_ms": 200}}),
    );
    assert_eq!(voicemail.expect("offer")["interaction"]["id"], id.as_str());
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "only after the timeout"
    );
}

#[test]
fn a_customers_chats_join_one_session_within_capacity() {
    let server = catalogue("chat");
    let port = server.port;
    agent(port, "c1", &["Chat"], json!({}), 2);
    let mut c1 = Desktop::open(port, "c1");
    set_state(port, "c1", "ready");
    let customer = json!({"id": "cust-7"});
    let new =
        |media: &str| json!({"media": media, "entry_point": "chat", "customer": customer.clone()});
    let (first, session) = create_interaction(port, new("chat"));
    let (second, joined) = create_interaction(port, new("chat"));
    let (third, also) = create_interaction(port, new("chat"));
    assert_eq!(joined, session);
    assert_eq!(also, session);
    let offered: Vec<_> = (0..2)
        .map(|_| c1.expect("offer")["interaction"]["id"].clone())
        .collect();
    assert_eq!(
        offered,
        [json!(first), json!(second)],
        "two chats at once, in order"
    );
    await_interaction(port, &third, "queued");
    // E-mail has a capacity of its own.
    let (mail, mail_session) = create_interaction(port, new("email"));
    assert_eq!(mail_session, session);
    assert_eq!(c1.expect("offer")["interaction"]["id"], mail.as_str());
    for id in [&first, &second, &mail] {
        assert_eq!(answer_offer(port, id, "accept", "c1").0, 200);
    }
    assert_eq!(answer_offer(port, &first, "complete", "c1").0, 200);
    assert_eq!(
        c1.expect("offer")["interaction"]["id"],
        third.as_str(),
        "a freed slot"
    );
    let data = await_data(port, &session, |data| {
        data["seen"].as_array().unwrap().len() == 4
    });
    assert_eq!(data["seen"], json!(["chat", "chat", "chat", "email"]));
}

#[test]
fn bad_input_gets_clear_refusals_and_state_stays_consistent() {
    let server = catalogue("bad");
    let port = server.port;
    let post = |path: &str, body: serde_json::Value| request(port, "POST", path, &body.to_string());
    // Unknown agent, media, entry point.
    assert_eq!(request(port, "GET", "/agents/nobody", "").0, 404);
    assert_eq!(
        post("/agents/nobody/state", json!({"state": "ready"})).0,
        404
    );
    let (status, _, _) = Desktop::try_open(port, "nobody");
    assert_eq!(status, 404);
    let (status, body) = post(
        "/interactions",
        json!({"media": "pigeon", "entry_point": "chat"}),
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("pigeon"), "{body}");
    let (status, body) = post(
        "/interactions",
        json!({"media": "chat", "entry_point": "nope"}),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = post("/interactions", json!({"media": "chat"}));
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(port, "PUT", "/agents/x", r#"{"skills": {"A": "high"}}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = post("/agents/x/state", json!({"state": "asleep"}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not-ready"),
        "{body}"
    );
    // A malformed skill expression names its column.
    let (status, body) = request(
        port,
        "GET",
        "/routing/statistics?targets=Mortgage%20%3E%3D%20x",
        "",
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("column 13"),
        "{body}"
    );
    // Agent races: ready while reserved, logged out while holding work.
    agent(port, "r1", &["Loans"], json!({}), 1);
    set_state(port, "r1", "ready");
    let (id, _) = chat(port, "group", json!({}));
    await_interaction(port, &id, "offered");
    set_state(port, "r1", "ready");
    let (_, view) = request(port, "GET", "/agents/r1", "");
    assert_eq!(
        view["media"]["chat"]["load"], 1,
        "still one reservation: {view}"
    );
    let (status, body) = post("/agents/r1/state", json!({"state": "logged-out"}));
    assert_eq!(status, 409, "{body}");
    let (status, body) = answer_offer(port, &id, "accept", "someone-else");
    assert_eq!(status, 409, "{body}");
    assert_eq!(answer_offer(port, &id, "accept", "r1").0, 200);
    let (status, body) = answer_offer(port, &id, "accept", "r1");
    assert_eq!(status, 409, "accepted twice: {body}");
    // Completed while queued: it leaves the queue; a ready agent later gets nothing.
    let (queued, _) = chat(port, "group", json!({}));
    await_interaction(port, &queued, "queued");
    assert_eq!(answer_offer(port, &queued, "complete", "r1").0, 200);
    let (status, body) = answer_offer(port, &queued, "complete", "r1");
    assert!(
        status == 409 || status == 404,
        "completed twice: {status} {body}"
    );
    assert_eq!(answer_offer(port, &id, "complete", "r1").0, 200);
    let (_, view) = request(port, "GET", "/agents/r1", "");
    assert_eq!(view["media"]["chat"]["load"], 0, "{view}");
    assert_eq!(view["offers"], json!([]), "{view}");
    let (_, metrics) = support::request_text(port, "GET", "/metrics", "");
    let metrics = metrics.as_str();
    assert_eq!(
        support::metric(metrics, "baton_agents{shard=\"0\",state=\"ready\"}"),
        1.0
    );
    assert_eq!(
        support::metric(metrics, "baton_queue_waiting{shard=\"0\"}"),
        0.0
    );
    assert_eq!(
        support::metric(metrics, "baton_queue_reserved{shard=\"0\"}"),
        0.0
    );
}

#[test]
fn web_service_lookup_then_a_survey_session() {
    let crm = Sink::start(json!({"tier": "gold"}));
    let extra = format!(
        "[[entry_point]]\nname = \"lookup\"\napplication = \"{}\"\n",
        strategy("lookup")
    );
    let server = start("lookup", &extra);
    let port = server.port;
    agent(port, "s1", &["Support"], json!({}), 1);
    let mut s1 = Desktop::open(port, "s1");
    set_state(port, "s1", "ready");
    let params = json!({"crm": crm.url(""), "survey": strategy("survey"),
                        "survey_sink": crm.url("/survey")});
    let (id, session) = create_interaction(
        port,
        json!({"media": "chat", "entry_point": "lookup", "customer": {"id": "cust-9"},
               "params": params}),
    );
    let lookup = crm.await_request("/customers/cust-9", 1);
    assert_eq!(lookup.method, "GET");
    assert_eq!(s1.expect("offer")["interaction"]["id"], id.as_str());
    let data = await_data(port, &session, |data| data["tier"] == "gold");
    assert_eq!(data["tier"], "gold", "the CRM's answer, parsed");
    assert_eq!(answer_offer(port, &id, "accept", "s1").0, 200);
    assert_eq!(answer_offer(port, &id, "complete", "s1").0, 200);
    let survey = crm.await_request("/survey", 1);
    assert_eq!(survey.method, "POST");
    assert_eq!(survey.json["customer"], "cust-9");
    await_session_end(port, &session);
}

#[test]
fn an_unanswered_offer_expires_and_goes_to_the_next_agent() {
    let extra = format!(
        "[routing]\nreservation_timeout_ms = 300\n\n[[entry_point]]\nname = \"skills\"\n\
         application = \"{}\"\n",
        strategy("skills")
    );
    let server = start("expiry", &extra);
    let port = server.port;
    agent(port, "b1", &[], json!({"Billing": 9, "English": 5}), 1);
    agent(port, "b2", &[], json!({"Billing": 6, "English": 4}), 1);
    let mut b1 = Desktop::open(port, "b1");
    let mut b2 = Desktop::open(port, "b2");
    set_state(port, "b1", "ready");
    set_state(port, "b2", "ready");
    let started = Instant::now();
    let (id, _) = chat(port, "skills", json!({}));
    assert_eq!(b1.expect("offer")["interaction"]["id"], id.as_str());
    assert_eq!(
        b1.expect("revoked")["interaction"],
        id.as_str(),
        "b1 never answered"
    );
    assert_eq!(b2.expect("offer")["interaction"]["id"], id.as_str());
    assert!(started.elapsed() >= Duration::from_millis(300));
    let (status, body) = answer_offer(port, &id, "accept", "b1");
    assert_eq!(status, 409, "too late for b1: {body}");
    assert_eq!(answer_offer(port, &id, "accept", "b2").0, 200);
}

#[test]
fn entry_points_reload_without_a_restart() {
    let port = free_port();
    let base = format!(
        "[runtime]\ncores = [0]\nio_memory_bytes = 1048576\n\n[[listener]]\nname = \"api\"\n\
         address = \"127.0.0.1:{port}\"\nadmin = true\n"
    );
    let server = Server::start("routing-reload", &base, port);
    let body = json!({"media": "chat", "entry_point": "group"}).to_string();
    assert_eq!(request(port, "POST", "/interactions", &body).0, 404);
    let extra = format!(
        "\n[[entry_point]]\nname = \"group\"\napplication = \"{}\"\n",
        strategy("group")
    );
    std::fs::write(server.config_path(), base + &extra).expect("rewrite the configuration");
    let (status, answer) = request(port, "POST", "/admin/reload", "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["changes"]["entry_points_changed"], true, "{answer}");
    assert_eq!(request(port, "POST", "/interactions", &body).0, 201);
}

#[test]
fn any_shard_reaches_the_routing_shard() {
    let port = free_port();
    let text = format!(
        "[runtime]\ncores = [0, 1]\nio_memory_bytes = 1048576\n\n[routing]\nshard = 1\n\
         offer_streams_per_agent_max = 4\n\n\
         [[listener]]\nname = \"api\"\naddress = \"127.0.0.1:{port}\"\n\n\
         [[entry_point]]\nname = \"group\"\napplication = \"{}\"\n",
        strategy("group")
    );
    let server = Server::start("routing-shards", &text, port);
    agent(port, "m1", &["Loans"], json!({}), 100);
    // Connections land on either shard: each of these is forwarded when it lands on shard 0.
    let mut desktops: Vec<Desktop> = (0..4).map(|_| Desktop::open(port, "m1")).collect();
    set_state(port, "m1", "ready");
    for _ in 0..8 {
        let (id, session) = chat(port, "group", json!({}));
        assert!(session.len() > 1);
        for desktop in &mut desktops {
            assert_eq!(desktop.expect("offer")["interaction"]["id"], id.as_str());
        }
        assert_eq!(answer_offer(port, &id, "accept", "m1").0, 200);
        assert_eq!(answer_offer(port, &id, "complete", "m1").0, 200);
    }
    let (_, view) = request(port, "GET", "/agents/m1", "");
    assert_eq!(view["streams"], 4, "{view}");
    drop(server);
}

/// Routes to the agent named in the attached data; the `transfer` event (data: `agent`)
/// redirects the interaction, accepted or not, to another agent.
const TRANSFER: &str = r#"<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"
    datamodel="ecmascript" xmlns:ixn="http://baton.dev/scxml/ixn" initial="open">
  <datamodel><data id="outcomes" expr="[]"/></datamodel>
  <state id="open">
    <transition event="interaction.added">
      <ixn:route targetexpr="_event.data.interaction.data.agent" timeout="5s"/>
    </transition>
    <transition event="transfer">
      <ixn:redirect targetexpr="'agent:' + _event.data.agent"/>
    </transition>
    <transition event="ixn.route.done ixn.redirect.done">
      <script>outcomes.push(_event.name + ':' + _event.data.agent)</script>
    </transition>
    <transition event="error.*">
      <script>outcomes.push(_event.name + ':' + _event.data.reason)</script>
    </transition>
  </state>
</scxml>"#;

#[test]
fn a_redirect_transfers_an_accepted_interaction() {
    let dir = support::TempDir::new("transfer-doc");
    let doc = dir.write("transfer.scxml", TRANSFER);
    let extra = format!(
        "[[entry_point]]\nname = \"direct\"\napplication = \"{}\"\n",
        doc.display()
    );
    let server = start("transfer", &extra);
    let port = server.port;
    agent(port, "x1", &[], json!({}), 1);
    agent(port, "x2", &[], json!({}), 1);
    let mut x1 = Desktop::open(port, "x1");
    let mut x2 = Desktop::open(port, "x2");
    set_state(port, "x1", "ready");
    let (id, session) = chat(port, "direct", json!({"agent": "x1"}));
    assert_eq!(x1.expect("offer")["interaction"]["id"], id.as_str());
    assert_eq!(answer_offer(port, &id, "accept", "x1").0, 200);
    // x2 is not ready: the redirect fails and x1 keeps it.
    let path = format!("/scxml/session/{session}/event/transfer");
    let (status, _) = request(port, "POST", &path, &json!({"agent": "x2"}).to_string());
    assert_eq!(status, 200);
    let data = await_data(port, &session, |data| {
        data["outcomes"].as_array().unwrap().len() == 2
    });
    assert!(
        data["outcomes"][1]
            .as_str()
            .unwrap()
            .starts_with("error.ixn.redirect:"),
        "{data}"
    );
    set_state(port, "x2", "ready");
    request(port, "POST", &path, &json!({"agent": "x2"}).to_string());
    assert_eq!(x2.expect("offer")["interaction"]["id"], id.as_str());
    assert_eq!(answer_offer(port, &id, "accept", "x2").0, 200);
    let (_, x1_view) = request(port, "GET", "/agents/x1", "");
    assert_eq!(
        x1_view["media"]["chat"]["load"], 0,
        "x1 was freed: {x1_view}"
    );
    let (_, x2_view) = request(port, "GET", "/agents/x2", "");
    assert_eq!(x2_view["media"]["chat"]["load"], 1, "{x2_view}");
}
