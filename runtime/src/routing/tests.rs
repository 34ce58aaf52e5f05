//! Behaviour of the routing core: parsing, orderings, queues, reservations, statistics
//! and limits.

use super::*;

const VOICE: MediaId = MediaId(0);
const CHAT: MediaId = MediaId(1);

fn router() -> Router {
    Router::new(RouterConfig::default())
}

fn profile(skills: &[(&str, u8)], groups: &[&str], capacity: &[(&str, u16)]) -> AgentProfile {
    AgentProfile {
        skills: skills
            .iter()
            .map(|(name, level)| (name.to_string(), *level))
            .collect(),
        groups: groups.iter().map(|name| name.to_string()).collect(),
        capacity: capacity
            .iter()
            .map(|(media, count)| (media.to_string(), *count))
            .collect(),
        addresses: Vec::new(),
    }
}

/// An agent with one voice and three chats, made ready at `now_ms`.
fn ready(router: &mut Router, id: &str, skills: &[(&str, u8)], now_ms: u64) {
    let capacity = [("voice", 1), ("chat", 3)];
    router
        .put_agent(id, profile(skills, &[], &capacity), now_ms)
        .unwrap();
    router
        .set_agent_state(id, AgentState::Ready, now_ms)
        .unwrap();
}

fn submission(router: &Router, interaction: u64, media: MediaId, targets: &str) -> Submission {
    Submission {
        interaction,
        media,
        targets: router.parse_targets(targets).unwrap(),
        priority: 0,
        timeout_ms: 0,
        ordering: Ordering::LongestIdle,
    }
}

fn submit(router: &mut Router, interaction: u64, targets: &str, now_ms: u64) -> Submitted {
    let submission = submission(router, interaction, VOICE, targets);
    router.submit(submission, now_ms).unwrap()
}

fn reserved(agent: &str) -> Submitted {
    Submitted::Reserved {
        agent: agent.to_string(),
    }
}

fn events(router: &mut Router) -> Vec<RouterEvent> {
    let mut out = Vec::new();
    router.take_events(&mut out);
    out
}

fn got(interaction: u64, agent: &str) -> RouterEvent {
    RouterEvent::Reserved {
        interaction,
        agent: agent.to_string(),
    }
}

fn error_text(router: &Router, text: &str) -> String {
    router.parse_targets(text).unwrap_err().to_string()
}

/// Whether the agent `id` matches `text`.
fn agent_matches(router: &Router, id: &str, text: &str) -> bool {
    let list = router.parse_targets(text).unwrap();
    list.matches(router.agents.get(router.agents.find(id).unwrap()))
}

#[test]
fn expressions_follow_precedence() {
    let mut router = router();
    ready(&mut router, "only-a", &[("a", 5)], 0);
    assert_eq!(router.parse_targets("a | b & c").unwrap().key(), "a|b&c");
    assert!(
        agent_matches(&router, "only-a", "a | b & c"),
        "& binds tighter than |"
    );
    assert!(!agent_matches(&router, "only-a", "(a | b) & c"));
    assert!(
        agent_matches(&router, "only-a", "!b & a"),
        "! binds tighter than &"
    );
    assert!(!agent_matches(&router, "only-a", "!(a | b)"));
    assert!(agent_matches(
        &router,
        "only-a",
        "a >= 5 & a <= 5 & a = 5 & a > 4 & a < 6"
    ));
    assert!(!agent_matches(&router, "only-a", "a != 5"));
    assert!(
        !agent_matches(&router, "only-a", "b < 3"),
        "a comparison needs the skill"
    );
    assert!(agent_matches(&router, "only-a", "group:none, agent:only-a"));
}

#[test]
fn keys_are_normalised_and_reparse() {
    let router = router();
    let cases = [
        (
            "skill: Mortgage >= 5 & English>=3",
            "Mortgage>=5&English>=3",
        ),
        ("((a))", "a"),
        ("a & (b & c)", "a&b&c"),
        ("(a | b) & !(c | d)", "(a|b)&!(c|d)"),
        ("!!a", "!!a"),
        (" agent: bob ,group:Sales , x", "agent:bob,group:Sales,x"),
    ];
    for (text, key) in cases {
        let list = router.parse_targets(text).unwrap();
        assert_eq!(list.key(), key, "{text}");
        assert_eq!(router.parse_targets(key).unwrap().key(), key);
    }
}

#[test]
fn parse_errors_name_their_column() {
    let router = router();
    let target = "a target ('agent:ID', 'group:NAME' or a skill expression)";
    let cases: Vec<(&str, String)> = vec![
        (
            "Mortgage >= x",
            "column 13: expected a number after '>=', found 'x'".into(),
        ),
        ("", format!("column 1: expected {target}, found the end")),
        ("a,", format!("column 3: expected {target}, found the end")),
        ("a, ,b", format!("column 4: expected {target}, found ','")),
        (
            "a &",
            "column 4: expected a skill name, '(' or '!', found the end".into(),
        ),
        (
            "a & >",
            "column 5: expected a skill name, '(' or '!', found '>'".into(),
        ),
        ("(a | b", "column 7: expected ')', found the end".into()),
        ("a)", "column 2: ')' without a matching '('".into()),
        (
            "a b",
            "column 3: expected '&', '|', ',' or the end, found 'b'".into(),
        ),
        (
            "(a b)",
            "column 4: expected '&', '|' or ')', found 'b'".into(),
        ),
        (
            "agent:",
            "column 7: expected an agent id after 'agent:', found the end".into(),
        ),
        (
            "group:#",
            "column 7: expected a group name after 'group:', found '#'".into(),
        ),
        (
            "agent:bob x",
            "column 11: expected ',' or the end, found 'x'".into(),
        ),
        (
            "a >= 101",
            "column 6: level 101 is above the maximum 100".into(),
        ),
        (
            "a == 5",
            "column 4: expected a number after '=', found '='".into(),
        ),
        (
            "é >= x",
            "column 6: expected a number after '>=', found 'x'".into(),
        ),
    ];
    for (text, message) in cases {
        assert_eq!(error_text(&router, text), message, "{text:?}");
    }
}

#[test]
fn bounds_name_their_column() {
    let router = router();
    let deep = format!("{}a{}", "(".repeat(17), ")".repeat(17));
    let terms = (0..65)
        .map(|n| format!("s{n}"))
        .collect::<Vec<_>>()
        .join("|");
    let items = vec!["a"; 33].join(",");
    let long_name = "n".repeat(65);
    let cases: Vec<(&str, String)> = vec![
        (&deep, "column 17: '(' and '!' nest deeper than 16".into()),
        (
            &terms,
            format!(
                "column {}: the expression has more than 64 terms",
                terms.len() - 2
            ),
        ),
        (
            &items,
            "column 65: the target list has more than 32 items".into(),
        ),
        (
            &long_name,
            "column 1: the name is longer than 64 bytes".into(),
        ),
    ];
    for (text, message) in cases {
        assert_eq!(error_text(&router, text), message, "{text:?}");
    }
}

#[test]
fn a_list_longer_than_the_limit_is_refused() {
    let router = router();
    let long = "a|".repeat(600);
    let error = router.parse_targets(&long).unwrap_err();
    assert_eq!(
        error.kind,
        TargetErrorKind::TooLong {
            bytes_max: TARGETS_BYTES_MAX
        }
    );
    assert_eq!(error.column, 1025);
}

#[test]
fn unknown_names_are_not_interned_but_match_once_known() {
    let mut router = router();
    let interned = (router.skills.len(), router.groups.len());
    assert_eq!(submit(&mut router, 1, "Ghost >= 1", 0), Submitted::Queued);
    router.parse_targets("group:Nobody, Other").unwrap();
    assert_eq!((router.skills.len(), router.groups.len()), interned);
    ready(&mut router, "casper", &[("Ghost", 4)], 10);
    assert_eq!(events(&mut router), vec![got(1, "casper")]);
}

#[test]
fn longest_idle_is_the_default() {
    let mut router = router();
    ready(&mut router, "late", &[("Sales", 1)], 20);
    ready(&mut router, "early", &[("Sales", 1)], 10);
    assert_eq!(submit(&mut router, 1, "Sales", 30), reserved("early"));
    assert_eq!(submit(&mut router, 2, "Sales", 30), reserved("late"));
}

#[test]
fn most_skilled_sums_the_named_skills() {
    let mut router = router();
    ready(
        &mut router,
        "broad",
        &[("Mortgage", 5), ("English", 9), ("French", 90)],
        10,
    );
    ready(&mut router, "deep", &[("Mortgage", 9), ("English", 3)], 20);
    ready(&mut router, "twin", &[("Mortgage", 9), ("English", 3)], 30);
    let mut most = submission(&router, 1, VOICE, "Mortgage >= 1 & English >= 1");
    most.ordering = Ordering::MostSkilled;
    assert_eq!(
        router.submit(most.clone(), 40).unwrap(),
        reserved("broad"),
        "14 beats 12"
    );
    most.interaction = 2;
    assert_eq!(
        router.submit(most, 40).unwrap(),
        reserved("deep"),
        "a tie goes to the longest idle"
    );
}

#[test]
fn least_occupied_spreads_load() {
    let mut router = router();
    ready(&mut router, "busy", &[("Chat", 1)], 10);
    ready(&mut router, "free", &[("Chat", 1)], 20);
    let first = submission(&router, 1, CHAT, "Chat");
    assert_eq!(router.submit(first, 30).unwrap(), reserved("busy"));
    let mut second = submission(&router, 2, CHAT, "Chat");
    second.ordering = Ordering::LeastOccupied;
    assert_eq!(router.submit(second, 30).unwrap(), reserved("free"));
    let third = submission(&router, 3, CHAT, "Chat");
    assert_eq!(
        router.submit(third, 30).unwrap(),
        reserved("busy"),
        "longest idle ignores load"
    );
}

#[test]
fn waiting_is_by_priority_then_age() {
    let mut router = router();
    for (interaction, priority) in [(1, 0), (2, 5), (3, 5), (4, 0)] {
        let mut waiting = submission(&router, interaction, VOICE, "Sales");
        waiting.priority = priority;
        assert_eq!(
            router.submit(waiting, interaction).unwrap(),
            Submitted::Queued
        );
    }
    ready(&mut router, "amy", &[("Sales", 1)], 10);
    let mut order = Vec::new();
    for _ in 0..4 {
        let taken = events(&mut router);
        let [RouterEvent::Reserved { interaction, .. }] = taken[..] else {
            panic!("{taken:?}")
        };
        order.push(interaction);
        router.cancel(interaction, 20).unwrap();
    }
    assert_eq!(order, [2, 3, 1, 4]);
}

#[test]
fn raising_priority_while_waiting_reorders() {
    let mut router = router();
    submit(&mut router, 1, "Sales", 0);
    submit(&mut router, 2, "Sales", 1);
    router.set_priority(2, 10, 2).unwrap();
    assert_eq!(
        router.set_priority(9, 1, 2),
        Err(RouterError::UnknownInteraction)
    );
    ready(&mut router, "amy", &[("Sales", 1)], 10);
    assert_eq!(events(&mut router), vec![got(2, "amy")]);
}

#[test]
fn capacity_is_per_media() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    for interaction in 1..=3 {
        let chat = submission(&router, interaction, CHAT, "Sales");
        assert_eq!(router.submit(chat, 1).unwrap(), reserved("amy"));
    }
    let fourth = submission(&router, 4, CHAT, "Sales");
    assert_eq!(router.submit(fourth, 1).unwrap(), Submitted::Queued);
    assert_eq!(
        submit(&mut router, 5, "Sales", 1),
        reserved("amy"),
        "voice is separate"
    );
    assert_eq!(submit(&mut router, 6, "Sales", 1), Submitted::Queued);
    let view = router.agent("amy").unwrap();
    assert_eq!((view.media[0].load, view.media[1].load), (1, 3));
    router.accept(2, "amy", 2).unwrap();
    router.complete(2, 5).unwrap();
    assert_eq!(events(&mut router), vec![got(4, "amy")]);
}

#[test]
fn reject_requeues_at_the_head_and_skips_the_rejecter() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    assert_eq!(submit(&mut router, 1, "Sales", 1), reserved("amy"));
    assert_eq!(submit(&mut router, 2, "Sales", 2), Submitted::Queued);
    assert_eq!(router.reject(1, "bob", 3), Err(RouterError::UnknownAgent));
    router.reject(1, "amy", 3).unwrap();
    let released = RouterEvent::Released {
        interaction: 1,
        agent: "amy".into(),
        reason: ReleaseReason::Rejected,
    };
    assert_eq!(
        events(&mut router),
        vec![released, got(2, "amy")],
        "1 is never offered to amy"
    );
    ready(&mut router, "bob", &[("Sales", 1)], 4);
    assert_eq!(
        events(&mut router),
        vec![got(1, "bob")],
        "1 was at the head"
    );
    assert_eq!(router.reject(2, "bob", 5), Err(RouterError::NotReserved));
}

#[test]
fn reservation_deadline_releases_and_offered_resets_it() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    submit(&mut router, 1, "Sales", 1_000);
    assert_eq!(router.next_deadline_ms(), Some(16_000));
    router.offered(1, 10_000).unwrap();
    assert_eq!(router.next_deadline_ms(), Some(25_000));
    router.expire(24_999);
    assert!(events(&mut router).is_empty());
    router.expire(25_000);
    let released = RouterEvent::Released {
        interaction: 1,
        agent: "amy".into(),
        reason: ReleaseReason::Expired,
    };
    assert_eq!(events(&mut router), vec![released]);
    assert_eq!(
        router.totals().waiting,
        1,
        "requeued, not offered to amy again"
    );
    assert_eq!(router.offered(1, 25_001), Err(RouterError::NotReserved));
}

#[test]
fn submission_timeout_removes_it() {
    let mut router = router();
    let mut waiting = submission(&router, 1, VOICE, "Sales");
    waiting.timeout_ms = 1_000;
    router.submit(waiting, 0).unwrap();
    assert_eq!(router.next_deadline_ms(), Some(1_000));
    router.expire(999);
    assert!(events(&mut router).is_empty());
    router.expire(1_000);
    assert_eq!(
        events(&mut router),
        vec![RouterEvent::TimedOut { interaction: 1 }]
    );
    assert_eq!(router.next_deadline_ms(), None);
    assert_eq!(
        router.cancel(1, 1_001),
        Err(RouterError::UnknownInteraction)
    );
    assert_eq!(router.totals(), Totals::default());
}

#[test]
fn a_timeout_passed_while_reserved_applies_on_release() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    let mut short = submission(&router, 1, VOICE, "Sales");
    short.timeout_ms = 100;
    assert_eq!(router.submit(short, 0).unwrap(), reserved("amy"));
    router.expire(200);
    assert!(events(&mut router).is_empty());
    router.reject(1, "amy", 300).unwrap();
    let released = RouterEvent::Released {
        interaction: 1,
        agent: "amy".into(),
        reason: ReleaseReason::Rejected,
    };
    assert_eq!(
        events(&mut router),
        vec![released, RouterEvent::TimedOut { interaction: 1 }]
    );
    assert_eq!(router.totals().waiting + router.totals().reserved, 0);
}

#[test]
fn ready_while_reserved_does_not_double_reserve() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    assert_eq!(submit(&mut router, 1, "Sales", 1), reserved("amy"));
    let away = AgentState::NotReady {
        reason: "break".into(),
    };
    router.set_agent_state("amy", away, 2).unwrap();
    router.set_agent_state("amy", AgentState::Ready, 3).unwrap();
    assert_eq!(submit(&mut router, 2, "Sales", 4), Submitted::Queued);
    assert!(events(&mut router).is_empty());
    assert_eq!(router.agent("amy").unwrap().media[0].load, 1);
}

#[test]
fn logging_out_or_removing_with_load_is_refused() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    submit(&mut router, 1, "Sales", 1);
    let refused = Err(RouterError::AgentHasWork { load: 1 });
    assert_eq!(
        router.set_agent_state("amy", AgentState::LoggedOut, 2),
        refused
    );
    assert_eq!(router.remove_agent("amy", 2), refused);
    router.accept(1, "amy", 3).unwrap();
    assert_eq!(router.cancel(1, 4), Err(RouterError::AlreadyAccepted));
    router.complete(1, 5).unwrap();
    router
        .set_agent_state("amy", AgentState::LoggedOut, 6)
        .unwrap();
    router.remove_agent("amy", 7).unwrap();
    assert!(router.agent("amy").is_none());
    assert_eq!(
        router.remove_agent("amy", 8),
        Err(RouterError::UnknownAgent)
    );
}

#[test]
fn cancel_while_waiting_and_while_reserved() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    assert_eq!(submit(&mut router, 1, "Sales", 1), reserved("amy"));
    assert_eq!(submit(&mut router, 2, "Sales", 2), Submitted::Queued);
    assert_eq!(submit(&mut router, 3, "Sales", 3), Submitted::Queued);
    router.cancel(2, 4).unwrap();
    assert_eq!(router.totals().waiting, 1);
    router.cancel(1, 5).unwrap();
    assert_eq!(
        events(&mut router),
        vec![got(3, "amy")],
        "the freed agent takes the next"
    );
    assert_eq!(router.cancel(1, 6), Err(RouterError::UnknownInteraction));
    let totals = router.totals();
    assert_eq!(
        (totals.waiting, totals.reserved, totals.queues),
        (0, 1, 1),
        "3 is a member"
    );
}

#[test]
fn complete_frees_capacity_matches_the_next_and_records_handle_time() {
    let mut router = router();
    ready(&mut router, "amy", &[("Sales", 1)], 0);
    submit(&mut router, 1, "Sales", 1_000);
    assert_eq!(
        router.accept(1, "bob", 1_100),
        Err(RouterError::UnknownAgent)
    );
    router.accept(1, "amy", 1_100).unwrap();
    assert_eq!(submit(&mut router, 2, "Sales", 1_200), Submitted::Queued);
    router.complete(1, 4_100).unwrap();
    assert_eq!(events(&mut router), vec![got(2, "amy")]);
    assert_eq!(
        router.agent("amy").unwrap().idle_since_ms,
        4_100,
        "finished work"
    );
    let list = router.parse_targets("Sales").unwrap();
    assert_eq!(router.stats(&list, Some(VOICE)).aht_ms, 3_000);
    assert_eq!(
        router.complete(1, 5_000),
        Err(RouterError::UnknownInteraction)
    );
}

#[test]
fn stats_count_matching_agents_and_estimate_the_wait() {
    let mut router = router();
    ready(&mut router, "amy", &[("Mortgage", 7)], 0);
    ready(&mut router, "bob", &[("Mortgage", 3)], 0);
    ready(&mut router, "cid", &[("Mortgage", 9)], 0);
    router
        .set_agent_state("cid", AgentState::LoggedOut, 1)
        .unwrap();
    ready(&mut router, "dan", &[("English", 9)], 0);
    let targets = "Mortgage >= 5";
    submit(&mut router, 1, targets, 10);
    router.accept(1, "amy", 10).unwrap();
    router.complete(1, 2_010).unwrap();
    assert_eq!(submit(&mut router, 2, targets, 3_000), reserved("amy"));
    router.accept(2, "amy", 3_000).unwrap();
    for interaction in 3..6 {
        assert_eq!(
            submit(&mut router, interaction, targets, 3_000),
            Submitted::Queued
        );
    }
    let list = router.parse_targets(targets).unwrap();
    let stats = router.stats(&list, Some(VOICE));
    let expected = Stats {
        ready: 0,
        busy: 1,
        logged_in: 1,
        waiting: 3,
        aht_ms: 2_000,
        ewt_ms: 6_000,
    };
    assert_eq!(stats, expected);
    let all = router.parse_targets("Mortgage | English").unwrap();
    let stats = router.stats(&all, None);
    assert_eq!(
        (stats.ready, stats.busy, stats.logged_in, stats.waiting),
        (3, 1, 3, 0)
    );
    let everyone = router.parse_targets("!Nothing").unwrap();
    assert_eq!(
        router.stats(&everyone, Some(CHAT)).ready,
        3,
        "amy still has chat capacity"
    );
    assert_eq!(router.stats(&all, Some(MediaId(99))), Stats::default());
    let totals = router.totals();
    assert_eq!((totals.agents, totals.ready, totals.logged_out), (4, 3, 1));
    assert_eq!((totals.waiting, totals.accepted), (3, 1));
}

#[test]
fn groups_and_named_agents_are_targets() {
    let mut router = router();
    let capacity = [("voice", 1)];
    router
        .put_agent("amy", profile(&[], &["Sales"], &capacity), 0)
        .unwrap();
    router.set_agent_state("amy", AgentState::Ready, 5).unwrap();
    router
        .put_agent("bob", profile(&[], &[], &capacity), 0)
        .unwrap();
    router.set_agent_state("bob", AgentState::Ready, 1).unwrap();
    assert_eq!(submit(&mut router, 1, "group:Sales", 10), reserved("amy"));
    assert_eq!(
        submit(&mut router, 2, "group:Sales, agent:bob", 10),
        reserved("bob")
    );
    assert_eq!(submit(&mut router, 3, "agent:bob", 10), Submitted::Queued);
    router.cancel(2, 11).unwrap();
    assert_eq!(events(&mut router), vec![got(3, "bob")]);
}

#[test]
fn direct_reservation() {
    let mut router = router();
    ready(&mut router, "amy", &[], 0);
    assert_eq!(
        router.reserve_agent(1, "nobody", VOICE, 1),
        Err(RouterError::UnknownAgent)
    );
    router.reserve_agent(1, "amy", VOICE, 1).unwrap();
    assert_eq!(
        router.reserve_agent(1, "amy", CHAT, 1),
        Err(RouterError::AlreadySubmitted)
    );
    assert_eq!(
        router.reserve_agent(2, "amy", VOICE, 1),
        Err(RouterError::AgentNotAvailable)
    );
    router.reject(1, "amy", 2).unwrap();
    let released = RouterEvent::Released {
        interaction: 1,
        agent: "amy".into(),
        reason: ReleaseReason::Rejected,
    };
    assert_eq!(
        events(&mut router),
        vec![released],
        "a direct reservation is not requeued"
    );
    assert_eq!(router.totals().reserved, 0);
    router.reserve_agent(2, "amy", VOICE, 3).unwrap();
    router.accept(2, "amy", 4).unwrap();
    router.complete(2, 5).unwrap();
}

#[test]
fn limits_and_bad_input_are_refused() {
    let config = RouterConfig {
        agents_max: 2,
        submissions_max: 2,
        skills_max: 3,
        groups_max: 1,
        ..RouterConfig::default()
    };
    let mut router = Router::new(config);
    router
        .put_agent("a", profile(&[("s1", 1), ("s2", 1)], &["g1"], &[]), 0)
        .unwrap();
    let too_many = profile(&[("s3", 1), ("s4", 1)], &[], &[]);
    assert_eq!(
        router.put_agent("b", too_many, 0),
        Err(RouterError::SkillsFull { skills_max: 3 })
    );
    assert_eq!(router.skills.len(), 2, "nothing interned on refusal");
    let groups = profile(&[], &["g2"], &[]);
    assert_eq!(
        router.put_agent("b", groups, 0),
        Err(RouterError::GroupsFull { groups_max: 1 })
    );
    router.put_agent("b", AgentProfile::default(), 0).unwrap();
    let full = Err(RouterError::AgentsFull { agents_max: 2 });
    assert_eq!(router.put_agent("c", AgentProfile::default(), 0), full);
    assert_eq!(
        router.put_agent("a b", AgentProfile::default(), 0),
        Err(RouterError::InvalidAgentId)
    );
    submit(&mut router, 1, "x", 0);
    assert_eq!(
        router.submit(submission(&router, 1, VOICE, "x"), 0),
        Err(RouterError::AlreadySubmitted)
    );
    submit(&mut router, 2, "x", 0);
    let full = Err(RouterError::SubmissionsFull { submissions_max: 2 });
    assert_eq!(router.submit(submission(&router, 3, VOICE, "x"), 0), full);
    let unknown = submission(&router, 3, MediaId(99), "x");
    assert_eq!(router.submit(unknown, 0), Err(RouterError::UnknownMedia));
    let long = AgentState::NotReady {
        reason: "r".repeat(REASON_BYTES_MAX + 1),
    };
    let refused = Err(RouterError::ReasonTooLong {
        bytes_max: REASON_BYTES_MAX,
    });
    assert_eq!(router.set_agent_state("a", long, 0), refused);
}

#[test]
fn malformed_profiles_say_what_is_wrong() {
    let mut router = router();
    let cases = [
        (
            profile(&[("a b", 1)], &[], &[]),
            ProfileProblem::SkillName { index: 0 },
        ),
        (
            profile(&[("a", 1), ("b", 101)], &[], &[]),
            ProfileProblem::SkillLevel {
                index: 1,
                level: 101,
                level_max: 100,
            },
        ),
        (
            profile(&[("a", 1), ("a", 2)], &[], &[]),
            ProfileProblem::DuplicateSkill { index: 1 },
        ),
        (
            profile(&[], &["x", "x"], &[]),
            ProfileProblem::DuplicateGroup { index: 1 },
        ),
        (
            profile(&[], &[], &[("pigeon", 1)]),
            ProfileProblem::UnknownMedia {
                field: "capacity",
                index: 0,
            },
        ),
        (
            profile(&[], &[], &[("voice", 1), ("voice", 2)]),
            ProfileProblem::DuplicateMedia {
                field: "capacity",
                index: 1,
            },
        ),
    ];
    for (profile, problem) in cases {
        let refused = router.put_agent("amy", profile, 0).unwrap_err();
        assert!(!refused.to_string().is_empty());
        assert_eq!(refused, RouterError::InvalidProfile { problem });
    }
    assert!(router.agent("amy").is_none());
}

#[test]
fn config_is_validated() {
    let extra = |names: &[&str]| RouterConfig {
        media_extra: names.iter().map(|n| n.to_string()).collect(),
        ..RouterConfig::default()
    };
    let router = Router::new(extra(&["video"]));
    assert_eq!(router.media("video"), Some(MediaId(6)));
    assert_eq!(router.media_name(MediaId(6)), "video");
    let duplicate = Router::try_new(extra(&["chat"])).unwrap_err();
    assert_eq!(duplicate, RouterConfigError::MediaDuplicate { index: 0 });
    let bad = Router::try_new(extra(&["a b"])).unwrap_err();
    assert_eq!(bad, RouterConfigError::MediaName { index: 0 });
    let zero = RouterConfig {
        reservation_timeout_ms: 0,
        ..RouterConfig::default()
    };
    let refused = Router::try_new(zero).unwrap_err();
    assert_eq!(
        refused,
        RouterConfigError::Zero {
            field: "reservation_timeout_ms"
        }
    );
}

#[test]
fn agent_view_and_address() {
    let mut router = router();
    let mut amy = profile(
        &[("Mortgage", 7), ("English", 3)],
        &["Sales"],
        &[("voice", 1)],
    );
    amy.addresses
        .push(("voice".into(), "sip:amy@example.com".into()));
    assert_eq!(router.put_agent("amy", amy.clone(), 5), Ok(true));
    assert_eq!(router.put_agent("amy", amy, 6), Ok(false));
    let away = AgentState::NotReady {
        reason: "lunch".into(),
    };
    router.set_agent_state("amy", away, 7).unwrap();
    let json = router.agent("amy").unwrap().to_json();
    let expected = serde_json::json!({
        "id": "amy", "state": "not-ready", "reason": "lunch", "state_since_ms": 7,
        "idle_since_ms": 5, "skills": {"English": 3, "Mortgage": 7}, "groups": ["Sales"],
        "media": {"voice": {"capacity": 1, "load": 0, "address": "sip:amy@example.com"}},
    });
    assert_eq!(json, expected);
    assert_eq!(
        router.agent_address("amy", VOICE),
        Some("sip:amy@example.com")
    );
    assert_eq!(router.agent_address("amy", CHAT), None);
    assert_eq!("most-skilled".parse(), Ok(Ordering::MostSkilled));
    assert_eq!("fastest".parse::<Ordering>(), Err(UnknownOrdering));
    assert_eq!("after-call-work".parse(), Ok(AgentState::AfterCallWork));
}

#[test]
fn a_profile_change_can_match_waiting_submissions() {
    let mut router = router();
    ready(&mut router, "amy", &[("English", 5)], 0);
    assert_eq!(submit(&mut router, 1, "Spanish >= 2", 1), Submitted::Queued);
    let capacity = [("voice", 1)];
    router
        .put_agent("amy", profile(&[("Spanish", 4)], &[], &capacity), 2)
        .unwrap();
    assert_eq!(events(&mut router), vec![got(1, "amy")]);
}
