//! The router's bounds: named constants for the target syntax and the profiles, and
//! [`RouterConfig`], the limits an operator sets, with their defaults.

use super::error::RouterConfigError;
use super::media::BUILTIN_MEDIA;
use super::names::is_name;

/// Longest target list string, in bytes.
pub const TARGETS_BYTES_MAX: usize = 1024;
/// Most comma-separated items in one target list.
pub const TARGET_ITEMS_MAX: usize = 32;
/// Most skill terms (`Mortgage >= 5` or a bare `Mortgage`) in one skill expression.
pub const EXPRESSION_TERMS_MAX: usize = 64;
/// Deepest nesting of `(` and `!` in one skill expression.
pub const EXPRESSION_DEPTH_MAX: usize = 16;
/// Size of the fixed evaluation stack of a skill expression. Each nesting level holds at
/// most one pending `|` and one pending `&` operand, so the bound below always suffices.
pub(crate) const EVAL_STACK_MAX: usize = 64;
const _: () = assert!(2 * (EXPRESSION_DEPTH_MAX + 1) < EVAL_STACK_MAX);

/// Longest skill, group or media name, in bytes.
pub const NAME_BYTES_MAX: usize = 64;
/// Longest agent id, in bytes.
pub const AGENT_ID_BYTES_MAX: usize = 128;
/// Highest skill level; levels run from 0 to this, and comparisons against a higher
/// number are refused when the target list is parsed.
pub const LEVEL_MAX: u8 = 100;
/// Most skills one agent may have.
pub const AGENT_SKILLS_MAX: usize = 256;
/// Most groups one agent may belong to.
pub const AGENT_GROUPS_MAX: usize = 256;
/// Longest agent address (e.g. a SIP URI), in bytes.
pub const ADDRESS_BYTES_MAX: usize = 1024;
/// Longest not-ready reason, in bytes.
pub const REASON_BYTES_MAX: usize = 256;
/// Most media (built-in plus configured); an agent's availability is a 64-bit mask.
pub const MEDIA_MAX: usize = 64;
/// Most distinct (target list, media) pairs with their own average handle time; past it,
/// new target lists fall back to the per-media average.
pub const AHT_TARGETS_MAX: usize = 10_000;
/// Weight of a new sample in the average handle time: 1 / 2^shift (1/8).
pub const AHT_WEIGHT_SHIFT: u32 = 3;

const _: () = assert!(BUILTIN_MEDIA.len() <= MEDIA_MAX);
const _: () = assert!(MEDIA_MAX <= 64);

/// The router's configured limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// Open media names beyond the built-in `voice, chat, email, sms, fax, workitem`.
    /// Default: none. Names use letters, digits, `_`, `-`, `.`.
    pub media_extra: Vec<String>,
    /// Most agents (profiles, logged in or not). Default 100,000. Cost: one slot and its
    /// index entries per agent.
    pub agents_max: u32,
    /// Most submissions waiting or reserved at once. Default 1,000,000. Cost: about 200
    /// bytes per submission.
    pub submissions_max: u32,
    /// Most distinct skill names ever interned. Default 10,000. Cost: one name and one
    /// index set per media per skill.
    pub skills_max: u32,
    /// Most distinct group names ever interned. Default 10,000.
    pub groups_max: u32,
    /// How long a reserved agent has to accept or reject, in milliseconds, reset by
    /// `offered`. Default 15,000.
    pub reservation_timeout_ms: u64,
    /// How many agents that rejected (or let expire) one submission are remembered so it
    /// is not offered to them again; past it the oldest is forgotten. Default 8.
    pub rejected_agents_per_submission_max: u8,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            media_extra: Vec::new(),
            agents_max: 100_000,
            submissions_max: 1_000_000,
            skills_max: 10_000,
            groups_max: 10_000,
            reservation_timeout_ms: 15_000,
            rejected_agents_per_submission_max: 8,
        }
    }
}

impl RouterConfig {
    /// Checks the media names and that no limit is zero.
    pub fn validate(&self) -> Result<(), RouterConfigError> {
        let media_count = BUILTIN_MEDIA.len() + self.media_extra.len();
        if media_count > MEDIA_MAX {
            return Err(RouterConfigError::TooManyMedia {
                count: media_count,
                media_max: MEDIA_MAX,
            });
        }
        for (index, name) in self.media_extra.iter().enumerate() {
            if !is_name(name) {
                return Err(RouterConfigError::MediaName { index });
            }
            let builtin = BUILTIN_MEDIA.contains(&name.as_str());
            if builtin || self.media_extra[..index].contains(name) {
                return Err(RouterConfigError::MediaDuplicate { index });
            }
        }
        let zero = [
            ("agents_max", self.agents_max as u64),
            ("submissions_max", self.submissions_max as u64),
            ("skills_max", self.skills_max as u64),
            ("groups_max", self.groups_max as u64),
            ("reservation_timeout_ms", self.reservation_timeout_ms),
            (
                "rejected_agents_per_submission_max",
                self.rejected_agents_per_submission_max as u64,
            ),
        ];
        match zero.iter().find(|(_, value)| *value == 0) {
            Some((field, _)) => Err(RouterConfigError::Zero { field }),
            None => Ok(()),
        }
    }
}
