//! The router's errors: typed, with the numbers that explain them, and a readable
//! sentence for the server's JSON errors and SCXML error events.

use std::fmt;

/// Why a router call was refused. The router's state is unchanged when a call fails.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterError {
    /// No agent has this id.
    UnknownAgent,
    /// The media id or name is not configured.
    UnknownMedia,
    /// No submission or accepted work has this interaction key.
    UnknownInteraction,
    /// The interaction already has a live (waiting or reserved) submission.
    AlreadySubmitted,
    /// The interaction was already accepted by an agent (complete it first).
    AlreadyAccepted,
    /// The agent still has reserved or accepted interactions.
    AgentHasWork {
        /// Its load over all media.
        load: u32,
    },
    /// The agent is not ready or has no free capacity for the media.
    AgentNotAvailable,
    /// The interaction is not reserved (to this agent).
    NotReserved,
    /// The agent table is full.
    AgentsFull {
        /// The configured `agents_max`.
        agents_max: u32,
    },
    /// Too many submissions are waiting or reserved.
    SubmissionsFull {
        /// The configured `submissions_max`.
        submissions_max: u32,
    },
    /// The profile names skills beyond the interned-skill limit.
    SkillsFull {
        /// The configured `skills_max`.
        skills_max: u32,
    },
    /// The profile names groups beyond the interned-group limit.
    GroupsFull {
        /// The configured `groups_max`.
        groups_max: u32,
    },
    /// The agent id is empty, too long, or holds a comma, whitespace or a control character.
    InvalidAgentId,
    /// The not-ready reason is too long.
    ReasonTooLong {
        /// `REASON_BYTES_MAX`.
        bytes_max: usize,
    },
    /// The agent profile is malformed.
    InvalidProfile {
        /// What is wrong with it.
        problem: ProfileProblem,
    },
}

/// What is wrong with an agent profile; `index` is the entry's position in its list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileProblem {
    /// A skill name is empty, too long or holds characters other than letters, digits,
    /// `_`, `-`, `.`.
    SkillName {
        /// Position in `skills`.
        index: usize,
    },
    /// A skill level is above `LEVEL_MAX`.
    SkillLevel {
        /// Position in `skills`.
        index: usize,
        /// The level given.
        level: u8,
        /// `LEVEL_MAX`.
        level_max: u8,
    },
    /// A skill is listed twice.
    DuplicateSkill {
        /// Position in `skills` of the second mention.
        index: usize,
    },
    /// More skills than `AGENT_SKILLS_MAX`.
    TooManySkills {
        /// How many were given.
        count: usize,
        /// `AGENT_SKILLS_MAX`.
        skills_max: usize,
    },
    /// A group name is malformed (same rules as skill names).
    GroupName {
        /// Position in `groups`.
        index: usize,
    },
    /// A group is listed twice.
    DuplicateGroup {
        /// Position in `groups` of the second mention.
        index: usize,
    },
    /// More groups than `AGENT_GROUPS_MAX`.
    TooManyGroups {
        /// How many were given.
        count: usize,
        /// `AGENT_GROUPS_MAX`.
        groups_max: usize,
    },
    /// A capacity or address names a medium that is not configured.
    UnknownMedia {
        /// `"capacity"` or `"addresses"`.
        field: &'static str,
        /// Position in that list.
        index: usize,
    },
    /// A capacity or address names a medium twice.
    DuplicateMedia {
        /// `"capacity"` or `"addresses"`.
        field: &'static str,
        /// Position in that list of the second mention.
        index: usize,
    },
    /// An address is longer than `ADDRESS_BYTES_MAX`.
    AddressTooLong {
        /// Position in `addresses`.
        index: usize,
        /// `ADDRESS_BYTES_MAX`.
        bytes_max: usize,
    },
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterError::UnknownAgent => f.write_str("no agent has this id"),
            RouterError::UnknownMedia => f.write_str("the media is not configured"),
            RouterError::UnknownInteraction => {
                f.write_str("the interaction is not waiting, reserved or accepted")
            }
            RouterError::AlreadySubmitted => {
                f.write_str("the interaction is already waiting or reserved")
            }
            RouterError::AlreadyAccepted => f.write_str("the interaction is already accepted"),
            RouterError::AgentHasWork { load } => {
                write!(
                    f,
                    "the agent still has {load} reserved or accepted interaction(s)"
                )
            }
            RouterError::AgentNotAvailable => {
                f.write_str("the agent is not ready or has no free capacity for the media")
            }
            RouterError::NotReserved => {
                f.write_str("the interaction is not reserved to this agent")
            }
            RouterError::AgentsFull { agents_max } => {
                write!(f, "the agent table is full ({agents_max} agents)")
            }
            RouterError::SubmissionsFull { submissions_max } => {
                write!(
                    f,
                    "too many submissions waiting or reserved ({submissions_max})"
                )
            }
            RouterError::SkillsFull { skills_max } => {
                write!(f, "too many distinct skill names ({skills_max})")
            }
            RouterError::GroupsFull { groups_max } => {
                write!(f, "too many distinct group names ({groups_max})")
            }
            RouterError::InvalidAgentId => f.write_str(
                "an agent id is 1 to 128 bytes without commas, whitespace or control characters",
            ),
            RouterError::ReasonTooLong { bytes_max } => {
                write!(f, "the not-ready reason is longer than {bytes_max} bytes")
            }
            RouterError::InvalidProfile { problem } => {
                write!(f, "invalid agent profile: {problem}")
            }
        }
    }
}

impl fmt::Display for ProfileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAME_RULE: &str = "1 to 64 letters, digits, '_', '-' or '.'";
        match self {
            ProfileProblem::SkillName { index } => {
                write!(f, "skill {index}: a skill name is {NAME_RULE}")
            }
            ProfileProblem::SkillLevel {
                index,
                level,
                level_max,
            } => {
                write!(f, "skill {index}: level {level} is above {level_max}")
            }
            ProfileProblem::DuplicateSkill { index } => write!(f, "skill {index} is listed twice"),
            ProfileProblem::TooManySkills { count, skills_max } => {
                write!(f, "{count} skills, at most {skills_max}")
            }
            ProfileProblem::GroupName { index } => {
                write!(f, "group {index}: a group name is {NAME_RULE}")
            }
            ProfileProblem::DuplicateGroup { index } => write!(f, "group {index} is listed twice"),
            ProfileProblem::TooManyGroups { count, groups_max } => {
                write!(f, "{count} groups, at most {groups_max}")
            }
            ProfileProblem::UnknownMedia { field, index } => {
                write!(f, "{field} {index}: the media is not configured")
            }
            ProfileProblem::DuplicateMedia { field, index } => {
                write!(f, "{field} {index}: the media is listed twice")
            }
            ProfileProblem::AddressTooLong { index, bytes_max } => {
                write!(f, "address {index} is longer than {bytes_max} bytes")
            }
        }
    }
}

impl std::error::Error for RouterError {}

/// Why a [`super::RouterConfig`] is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterConfigError {
    /// More media than `MEDIA_MAX`.
    TooManyMedia {
        /// Built-in plus extra.
        count: usize,
        /// `MEDIA_MAX`.
        media_max: usize,
    },
    /// `media_extra[index]` is not a valid name.
    MediaName {
        /// Position in `media_extra`.
        index: usize,
    },
    /// `media_extra[index]` repeats a built-in or earlier name.
    MediaDuplicate {
        /// Position in `media_extra`.
        index: usize,
    },
    /// A limit is zero.
    Zero {
        /// The field's name.
        field: &'static str,
    },
}

impl fmt::Display for RouterConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterConfigError::TooManyMedia { count, media_max } => {
                write!(f, "{count} media configured, at most {media_max}")
            }
            RouterConfigError::MediaName { index } => {
                write!(
                    f,
                    "media_extra[{index}] is not a name (letters, digits, '_', '-', '.')"
                )
            }
            RouterConfigError::MediaDuplicate { index } => {
                write!(f, "media_extra[{index}] repeats a media name")
            }
            RouterConfigError::Zero { field } => write!(f, "{field} must be above zero"),
        }
    }
}

impl std::error::Error for RouterConfigError {}
