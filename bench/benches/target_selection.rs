//! Target selection over 10,000 agents and 200 skills: one decision (`submit` of a
//! two-term skill expression that reserves an agent, then `cancel` to keep the state
//! steady), an agent becoming ready with 100,000 submissions waiting in 50 queues, and
//! the parse of a target list.
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use runtime::routing::{
    AgentProfile, AgentState, MediaId, Ordering, Router, RouterConfig, Submission, Submitted,
};

const AGENTS: usize = 10_000;
const SKILLS: u64 = 200;
const VOICE: MediaId = MediaId(0);

/// splitmix64 with a fixed seed: the same population on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// 10,000 agents with 5–10 random skills at random levels, one voice and three chats;
/// every other agent ready.
fn population() -> Router {
    let mut router = Router::new(RouterConfig::default());
    let mut rng = Rng(42);
    for agent in 0..AGENTS {
        let mut skills: Vec<(String, u8)> = Vec::new();
        let count = 5 + rng.below(6);
        while (skills.len() as u64) < count {
            let name = format!("Skill{}", rng.below(SKILLS));
            if !skills.iter().any(|(known, _)| *known == name) {
                skills.push((name, rng.below(101) as u8));
            }
        }
        let profile = AgentProfile {
            skills,
            groups: vec![format!("Group{}", agent % 20)],
            capacity: vec![("voice".into(), 1), ("chat".into(), 3)],
            addresses: vec![("voice".into(), format!("sip:agent{agent}@example.com"))],
        };
        let id = format!("agent{agent}");
        router.put_agent(&id, profile, agent as u64).unwrap();
        let state = if agent % 2 == 0 {
            AgentState::Ready
        } else {
            AgentState::LoggedOut
        };
        router.set_agent_state(&id, state, agent as u64).unwrap();
    }
    router
}

fn submission(router: &Router, interaction: u64, targets: &str) -> Submission {
    Submission {
        interaction,
        media: VOICE,
        targets: router.parse_targets(targets).unwrap(),
        priority: 0,
        timeout_ms: 0,
        ordering: Ordering::LongestIdle,
    }
}

fn bench_decision(c: &mut Criterion) {
    let mut router = population();
    let template = submission(&router, 1, "Skill17 >= 5 & Skill42 >= 3");
    let first = router.submit(template.clone(), 0).unwrap();
    assert!(
        matches!(first, Submitted::Reserved { .. }),
        "the expression reserves an agent"
    );
    router.cancel(1, 0).unwrap();
    c.bench_function("routing/decision_two_terms", |b| {
        b.iter_batched(
            || template.clone(),
            |submission| {
                let submitted = router.submit(submission, 0).unwrap();
                router.cancel(1, 0).unwrap();
                submitted
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// 100,000 submissions wait in 50 queues (`QueueN >= 50`, 2,000 each) that no ready agent
/// matches; one agent with `Queue49` becomes ready and takes the head of its queue. Each
/// iteration is timed from the state change to the reservation; then the agent goes not
/// ready, the reservation is cancelled and resubmitted at the tail, keeping 100,000 waiting.
fn bench_agent_ready(c: &mut Criterion) {
    let mut router = Router::new(RouterConfig::default());
    let queues: Vec<_> = (0..50)
        .map(|q| router.parse_targets(&format!("Queue{q} >= 50")).unwrap())
        .collect();
    for interaction in 0..100_000u64 {
        let targets = queues[(interaction % 50) as usize].clone();
        let submission = Submission {
            interaction,
            media: VOICE,
            targets,
            priority: 0,
            timeout_ms: 0,
            ordering: Ordering::LongestIdle,
        };
        assert_eq!(router.submit(submission, 0).unwrap(), Submitted::Queued);
    }
    let skills = (0..50)
        .map(|q| (format!("Queue{q}"), if q == 49 { 80 } else { 10 }))
        .collect();
    let capacity = vec![("voice".into(), 1)];
    let profile = AgentProfile {
        skills,
        groups: Vec::new(),
        capacity,
        addresses: Vec::new(),
    };
    router.put_agent("probe", profile, 0).unwrap();
    let away = AgentState::NotReady {
        reason: "bench".into(),
    };
    router.set_agent_state("probe", away.clone(), 0).unwrap();
    let mut events = Vec::new();
    c.bench_function("routing/agent_ready_100k_waiting_50_queues", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                router
                    .set_agent_state("probe", AgentState::Ready, 1)
                    .unwrap();
                total += start.elapsed();
                router.take_events(&mut events);
                let Some(runtime::routing::RouterEvent::Reserved { interaction, .. }) =
                    events.pop()
                else {
                    panic!("the agent took a submission")
                };
                router.set_agent_state("probe", away.clone(), 1).unwrap();
                router.cancel(interaction, 1).unwrap();
                let again = Submission {
                    interaction,
                    media: VOICE,
                    targets: queues[49].clone(),
                    priority: 0,
                    timeout_ms: 0,
                    ordering: Ordering::LongestIdle,
                };
                router.submit(again, 1).unwrap();
            }
            total
        })
    });
}

fn bench_parse(c: &mut Criterion) {
    let router = population();
    let text = "agent:agent7, group:Group3, Skill17 >= 5 & (Skill42 >= 3 | Skill99 > 70) & !Skill5";
    c.bench_function("routing/parse_target_list", |b| {
        b.iter(|| router.parse_targets(black_box(text)).unwrap())
    });
}

criterion_group!(benches, bench_decision, bench_agent_ready, bench_parse);
criterion_main!(benches);
