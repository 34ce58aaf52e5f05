//! Agent calls: profiles, states, removal and the view for `GET /agents/{id}`.

use super::agent::{Agent, AgentProfile, AgentState, AgentView, MediaView};
use super::error::{ProfileProblem, RouterError};
use super::limits::{
    ADDRESS_BYTES_MAX, AGENT_GROUPS_MAX, AGENT_SKILLS_MAX, LEVEL_MAX, REASON_BYTES_MAX,
};
use super::media::MediaId;
use super::names::{is_agent_id, is_name};
use super::Router;

/// A checked profile in the router's terms (names still as text, media as ids).
struct CheckedProfile {
    capacity: Vec<u16>,
    addresses: Vec<Option<Box<str>>>,
}

impl Router {
    /// Creates or replaces an agent's profile; returns whether it was created. A new agent
    /// starts logged out. A replaced profile keeps the state and load; the agent is then
    /// matched against the waiting queues (its skills may now match them).
    pub fn put_agent(
        &mut self,
        id: &str,
        profile: AgentProfile,
        now_ms: u64,
    ) -> Result<bool, RouterError> {
        if !is_agent_id(id) {
            return Err(RouterError::InvalidAgentId);
        }
        let checked = self.check_profile(&profile)?;
        let existing = self.agents.find(id);
        if existing.is_none() && self.agents.len() >= self.config.agents_max as usize {
            return Err(RouterError::AgentsFull {
                agents_max: self.config.agents_max,
            });
        }
        self.check_room(&profile)?;
        let (skills, groups) = self.intern_names(&profile);
        let Some(index) = existing else {
            let media_count = self.media.len();
            self.agents.insert(Agent {
                id: Box::from(id),
                skills,
                groups,
                capacity: checked.capacity,
                load: vec![0; media_count],
                addresses: checked.addresses,
                state: AgentState::LoggedOut,
                state_since_ms: now_ms,
                idle_since_ms: now_ms,
                available: 0,
            });
            return Ok(true);
        };
        self.unindex(index);
        let agent = self.agents.get_mut(index);
        agent.skills = skills;
        agent.groups = groups;
        agent.capacity = checked.capacity;
        agent.addresses = checked.addresses;
        let available = self.reindex(index);
        self.match_media(index, available, now_ms);
        Ok(false)
    }

    /// Refuses a profile whose new names would overflow the skill or group table.
    fn check_room(&self, profile: &AgentProfile) -> Result<(), RouterError> {
        let skill_names = profile.skills.iter().map(|(name, _)| name.as_str());
        if !self.skills.has_room(self.skills.missing(skill_names)) {
            let skills_max = self.config.skills_max;
            return Err(RouterError::SkillsFull { skills_max });
        }
        let group_names = profile.groups.iter().map(String::as_str);
        if !self.groups.has_room(self.groups.missing(group_names)) {
            let groups_max = self.config.groups_max;
            return Err(RouterError::GroupsFull { groups_max });
        }
        Ok(())
    }

    /// Interns a checked profile's names (sorted ids); new names grow the index and may
    /// resolve names waiting queues did not know.
    fn intern_names(&mut self, profile: &AgentProfile) -> (Vec<(u32, u8)>, Vec<u32>) {
        let interned = (self.skills.len(), self.groups.len());
        let skills = profile.skills.iter();
        let mut skills: Vec<(u32, u8)> = skills
            .map(|(name, level)| (self.skills.intern(name), *level))
            .collect();
        skills.sort_unstable();
        let mut groups: Vec<u32> = profile
            .groups
            .iter()
            .map(|g| self.groups.intern(g))
            .collect();
        groups.sort_unstable();
        if interned != (self.skills.len(), self.groups.len()) {
            self.index.grow(self.skills.len(), self.groups.len());
            self.queues.resolve_all(&self.skills, &self.groups);
        }
        (skills, groups)
    }

    fn check_profile(&self, profile: &AgentProfile) -> Result<CheckedProfile, RouterError> {
        let invalid = |problem| RouterError::InvalidProfile { problem };
        let skills = &profile.skills;
        if skills.len() > AGENT_SKILLS_MAX {
            let count = skills.len();
            return Err(invalid(ProfileProblem::TooManySkills {
                count,
                skills_max: AGENT_SKILLS_MAX,
            }));
        }
        for (index, (name, level)) in skills.iter().enumerate() {
            if !is_name(name) {
                return Err(invalid(ProfileProblem::SkillName { index }));
            }
            if *level > LEVEL_MAX {
                let level = *level;
                return Err(invalid(ProfileProblem::SkillLevel {
                    index,
                    level,
                    level_max: LEVEL_MAX,
                }));
            }
            if skills[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(invalid(ProfileProblem::DuplicateSkill { index }));
            }
        }
        let groups = &profile.groups;
        if groups.len() > AGENT_GROUPS_MAX {
            let count = groups.len();
            return Err(invalid(ProfileProblem::TooManyGroups {
                count,
                groups_max: AGENT_GROUPS_MAX,
            }));
        }
        for (index, name) in groups.iter().enumerate() {
            if !is_name(name) {
                return Err(invalid(ProfileProblem::GroupName { index }));
            }
            if groups[..index].contains(name) {
                return Err(invalid(ProfileProblem::DuplicateGroup { index }));
            }
        }
        let mut capacity = vec![0; self.media.len()];
        let mut addresses = vec![None; self.media.len()];
        let mut seen = 0u64;
        for (index, (name, count)) in profile.capacity.iter().enumerate() {
            let media = self.profile_media(name, "capacity", index, &mut seen)?;
            capacity[media.index()] = *count;
        }
        seen = 0;
        for (index, (name, address)) in profile.addresses.iter().enumerate() {
            let media = self.profile_media(name, "addresses", index, &mut seen)?;
            if address.len() > ADDRESS_BYTES_MAX {
                let problem = ProfileProblem::AddressTooLong {
                    index,
                    bytes_max: ADDRESS_BYTES_MAX,
                };
                return Err(invalid(problem));
            }
            addresses[media.index()] = Some(Box::from(address.as_str()));
        }
        Ok(CheckedProfile {
            capacity,
            addresses,
        })
    }

    fn profile_media(
        &self,
        name: &str,
        field: &'static str,
        index: usize,
        seen: &mut u64,
    ) -> Result<MediaId, RouterError> {
        let invalid = |problem| RouterError::InvalidProfile { problem };
        let media = self
            .media
            .find(name)
            .ok_or(invalid(ProfileProblem::UnknownMedia { field, index }))?;
        if *seen & media.bit() != 0 {
            return Err(invalid(ProfileProblem::DuplicateMedia { field, index }));
        }
        *seen |= media.bit();
        Ok(media)
    }

    /// Removes an agent; refused while it has reserved or accepted interactions.
    pub fn remove_agent(&mut self, id: &str, _now_ms: u64) -> Result<(), RouterError> {
        let index = self.agents.find(id).ok_or(RouterError::UnknownAgent)?;
        let load = self.agents.get(index).load_total();
        if load > 0 {
            return Err(RouterError::AgentHasWork { load });
        }
        self.unindex(index);
        self.agents.remove(index);
        Ok(())
    }

    /// Sets an agent's state. `LoggedOut` is refused while it has load; `Ready` while it
    /// holds a reservation is fine (it takes more only up to its capacity). Setting the
    /// state it already has changes nothing.
    pub fn set_agent_state(
        &mut self,
        id: &str,
        state: AgentState,
        now_ms: u64,
    ) -> Result<(), RouterError> {
        let index = self.agents.find(id).ok_or(RouterError::UnknownAgent)?;
        if state
            .reason()
            .is_some_and(|reason| reason.len() > REASON_BYTES_MAX)
        {
            return Err(RouterError::ReasonTooLong {
                bytes_max: REASON_BYTES_MAX,
            });
        }
        let agent = self.agents.get(index);
        let load = agent.load_total();
        if state == AgentState::LoggedOut && load > 0 {
            return Err(RouterError::AgentHasWork { load });
        }
        if agent.state == state {
            return Ok(());
        }
        let before = self.unindex(index);
        self.agents.by_state[self.agents.get(index).state.slot()] -= 1;
        self.agents.by_state[state.slot()] += 1;
        let agent = self.agents.get_mut(index);
        if state == AgentState::Ready && agent.state != AgentState::Ready && load == 0 {
            agent.idle_since_ms = now_ms;
        }
        agent.state = state;
        agent.state_since_ms = now_ms;
        let after = self.reindex(index);
        self.match_media(index, after & !before, now_ms);
        Ok(())
    }

    /// The agent as `GET /agents/{id}` shows it.
    pub fn agent(&self, id: &str) -> Option<AgentView<'_>> {
        let agent = self.agents.get(self.agents.find(id)?);
        let mut skills: Vec<(&str, u8)> = agent
            .skills
            .iter()
            .map(|(skill, level)| (self.skills.name(*skill), *level))
            .collect();
        skills.sort_unstable();
        let mut groups: Vec<&str> = agent
            .groups
            .iter()
            .map(|group| self.groups.name(*group))
            .collect();
        groups.sort_unstable();
        let media = self
            .media
            .ids()
            .map(|media| MediaView {
                media: self.media.name(media),
                capacity: agent.capacity[media.index()],
                load: agent.load[media.index()],
                address: agent.addresses[media.index()].as_deref(),
            })
            .filter(|view| view.capacity > 0 || view.load > 0 || view.address.is_some())
            .collect();
        Some(AgentView {
            id: &agent.id,
            state: agent.state.name(),
            reason: agent.state.reason(),
            state_since_ms: agent.state_since_ms,
            idle_since_ms: agent.idle_since_ms,
            skills,
            groups,
            media,
        })
    }

    /// The agent's address for `media` (e.g. the SIP URI to redirect a call to).
    pub fn agent_address(&self, id: &str, media: MediaId) -> Option<&str> {
        let agent = self.agents.get(self.agents.find(id)?);
        agent.addresses.get(media.index())?.as_deref()
    }
}
