//! A seeded randomized consistency test: many random operations, and after each one the
//! invariants checked by brute force. A failure prints the seed; replay it with
//! `ROUTING_SEED=<seed> cargo test -p baton-runtime --lib routing::tests_random`.

use std::collections::BTreeSet;

use super::submissions::{Home, Phase};
use super::*;

const MEDIA: [MediaId; 2] = [MediaId(0), MediaId(1)];
const SKILLS: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
const AGENTS: usize = 12;
const INTERACTIONS: u64 = 40;
const TARGETS: [&str; 9] = [
    "A",
    "A >= 50 & B",
    "C | D < 30",
    "!E",
    "group:G1",
    "agent:agent3, F > 10",
    "group:G2, A & !B",
    "(A | B) & (C | D)",
    "Unknown >= 1",
];

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Prints the seed if the test panics while it is alive.
struct SeedGuard(u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("routing consistency failed with ROUTING_SEED={}", self.0);
        }
    }
}

#[test]
fn random_operations_keep_the_invariants() {
    let seeds: Vec<u64> = match std::env::var("ROUTING_SEED") {
        Ok(seed) => vec![seed.parse().expect("ROUTING_SEED is a number")],
        Err(_) => (1..=40).collect(),
    };
    let mut seen = [0usize; 3];
    for seed in seeds {
        let _guard = SeedGuard(seed);
        for event in run(seed, 600) {
            let kind = match event {
                RouterEvent::Reserved { .. } => 0,
                RouterEvent::Released { .. } => 1,
                RouterEvent::TimedOut { .. } => 2,
            };
            seen[kind] += 1;
        }
    }
    assert!(
        seen.iter().all(|count| *count > 0),
        "every kind of event happened: {seen:?}"
    );
}

fn random_profile(rng: &mut Rng, agent: usize) -> AgentProfile {
    let mut skills = Vec::new();
    for name in SKILLS {
        if rng.below(2) == 0 {
            skills.push((name.to_string(), rng.below(101) as u8));
        }
    }
    let groups = ["G1", "G2"]
        .iter()
        .filter(|_| rng.below(3) == 0)
        .map(|g| g.to_string())
        .collect();
    // Capacity is fixed per agent, so "never over capacity" is a plain invariant.
    let capacity = vec![
        ("voice".to_string(), (agent % 2) as u16 + 1),
        ("chat".to_string(), 2),
    ];
    AgentProfile {
        skills,
        groups,
        capacity,
        addresses: Vec::new(),
    }
}

fn random_state(rng: &mut Rng) -> AgentState {
    match rng.below(5) {
        0 => AgentState::LoggedOut,
        1 => AgentState::NotReady {
            reason: "break".into(),
        },
        2 => AgentState::AfterCallWork,
        _ => AgentState::Ready,
    }
}

fn run(seed: u64, steps: usize) -> Vec<RouterEvent> {
    let mut rng = Rng(seed);
    let config = RouterConfig {
        reservation_timeout_ms: 50,
        rejected_agents_per_submission_max: 2,
        ..RouterConfig::default()
    };
    let mut router = Router::new(config);
    let mut now_ms = 0;
    let mut events = Vec::new();
    for _ in 0..steps {
        now_ms += rng.below(20);
        let agent = rng.below(AGENTS as u64) as usize;
        let id = format!("agent{agent}");
        let interaction = rng.below(INTERACTIONS);
        match rng.below(12) {
            0 => drop(router.put_agent(&id, random_profile(&mut rng, agent), now_ms)),
            1 | 2 => drop(router.set_agent_state(&id, random_state(&mut rng), now_ms)),
            3 => drop(router.remove_agent(&id, now_ms)),
            4 | 5 => {
                let targets = TARGETS[rng.below(TARGETS.len() as u64) as usize];
                let submission = Submission {
                    interaction,
                    media: MEDIA[rng.below(2) as usize],
                    targets: router.parse_targets(targets).unwrap(),
                    priority: rng.below(3) as i32,
                    timeout_ms: rng.below(3) * 100,
                    ordering: [
                        Ordering::LongestIdle,
                        Ordering::MostSkilled,
                        Ordering::LeastOccupied,
                    ][rng.below(3) as usize],
                };
                drop(router.submit(submission, now_ms));
            }
            6 => drop(router.cancel(interaction, now_ms)),
            7 => drop(router.set_priority(interaction, rng.below(5) as i32, now_ms)),
            8 => {
                let reserved_to = reserved_agent(&router, interaction).unwrap_or(id);
                let _ = match rng.below(3) {
                    0 => router.accept(interaction, &reserved_to, now_ms),
                    1 => router.reject(interaction, &reserved_to, now_ms),
                    _ => router.offered(interaction, now_ms),
                };
            }
            9 => drop(router.complete(interaction, now_ms)),
            10 => {
                drop(router.reserve_agent(interaction, &id, MEDIA[rng.below(2) as usize], now_ms))
            }
            _ => router.expire(now_ms),
        }
        router.take_events(&mut events);
        check(&router);
    }
    events
}

fn reserved_agent(router: &Router, interaction: u64) -> Option<String> {
    match router.pending.get(&interaction)?.phase {
        Phase::Reserved { agent, .. } => Some(router.agents.get(agent).id.to_string()),
        Phase::Waiting => None,
    }
}

/// The invariants, by brute force over everything.
fn check(router: &Router) {
    let media_count = router.media.len();
    let mut waiting = 0;
    let mut reserved = 0;
    for (index, agent) in router.agents.iter() {
        let mut load = vec![0u16; media_count];
        for pending in router.pending.values() {
            if let Phase::Reserved { agent: holder, .. } = pending.phase {
                load[pending.media.index()] += (holder == index) as u16;
            }
        }
        for work in router.work.values() {
            load[work.media.index()] += (work.agent == index) as u16;
        }
        assert_eq!(
            agent.load, load,
            "load == reserved + accepted for {}",
            agent.id
        );
        for media in router.media.ids() {
            let m = media.index();
            assert!(
                agent.load[m] <= agent.capacity[m],
                "{} over capacity",
                agent.id
            );
            let available = agent.can_take(media);
            assert_eq!(agent.available & media.bit() != 0, available);
            let key = (agent.idle_since_ms, index);
            assert_eq!(router.index.available(media).contains(&key), available);
            for (skill, _) in &agent.skills {
                assert_eq!(
                    router.index.available_skill(*skill, media).contains(&key),
                    available
                );
            }
        }
        if agent.state != AgentState::LoggedOut {
            assert!(router.index.logged_in().contains(&index));
        }
    }
    check_media_sets(router);
    for (interaction, pending) in &router.pending {
        match pending.phase {
            Phase::Reserved { deadline_ms, .. } => {
                reserved += 1;
                let kind = super::submissions::DeadlineKind::Reservation;
                let deadline = super::submissions::Deadline {
                    at_ms: deadline_ms,
                    interaction: *interaction,
                    kind,
                };
                assert!(router.deadlines.contains(&deadline));
            }
            Phase::Waiting => {
                waiting += 1;
                check_nobody_available(router, *interaction, pending);
            }
        }
    }
    let totals = router.totals();
    assert_eq!((totals.waiting, totals.reserved), (waiting, reserved));
    let members: u32 = router
        .queues
        .iter()
        .map(|(_, q)| q.waiting.len() as u32)
        .sum();
    assert_eq!(members, waiting);
}

/// The media sets hold exactly the agents that can take the media.
fn check_media_sets(router: &Router) {
    for media in router.media.ids() {
        let indexed: BTreeSet<u32> = router.index.available(media).iter().map(|k| k.1).collect();
        let live: BTreeSet<u32> = router
            .agents
            .iter()
            .filter(|(_, a)| a.can_take(media))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(indexed, live, "no stale entries in the media set");
    }
}

/// A waiting submission has no available, matching agent it was not refused by.
fn check_nobody_available(
    router: &Router,
    interaction: u64,
    pending: &super::submissions::Pending,
) {
    let Home::Queued(queue) = pending.home else {
        panic!("a waiting submission is queued")
    };
    let queue = router.queues.get(queue);
    assert!(queue.waiting.contains(&pending.wait_key(interaction)));
    let mut targets = queue.targets.clone();
    targets.resolve(&router.skills, &router.groups);
    for (index, agent) in router.agents.iter() {
        let refused = pending.rejected.contains(&router.agents.key(index));
        let free = agent.can_take(pending.media) && targets.matches(agent) && !refused;
        assert!(
            !free,
            "{interaction} waits while {} is available ({})",
            agent.id,
            targets.key()
        );
    }
}
