//! How the routing shard's host reaches the orchestration: the routing actions of its
//! sessions ([`RoutingActions`]) and the `_statistics` function of their scripts.

use std::cell::RefCell;
use std::rc::Rc;

use engine::datamodel::HostFunction;
use engine::effects::{ExtensionAction, ExtensionError, ExtensionOutcome};
use engine::model::Document;
use engine::value::Value;

use super::Orchestration;
use crate::local::ExtensionHandler;

/// The name of the statistics function strategies call.
pub const STATISTICS_FUNCTION: &str = "_statistics";

/// Performs the routing actions of the host's sessions on the orchestration.
pub struct RoutingActions(pub Rc<RefCell<Orchestration>>);

impl ExtensionHandler for RoutingActions {
    fn perform(
        &self,
        session: &str,
        doc: &Document,
        action: &ExtensionAction,
        now_ms: u64,
    ) -> Result<ExtensionOutcome, ExtensionError> {
        let mut orchestration = self.0.try_borrow_mut().map_err(|_| ExtensionError {
            reason: "the orchestration is busy (an action ran from inside another)".into(),
        })?;
        let reads = doc.mentions(super::INTERACTIONS_VARIABLE);
        orchestration.perform(session, action, reads, now_ms)
    }
}

/// `_statistics(targets, media)`: `{ready, busy, logged_in, waiting, ewt_ms, aht_ms}` for a
/// target list (`"Mortgage >= 5 & English >= 3"`, `"group:Loans"`, `"agent:alice"`), for
/// one media or all. A malformed target list throws an Error naming the column.
pub fn statistics_function(orchestration: Rc<RefCell<Orchestration>>) -> HostFunction {
    Rc::new(move |args: &[Value]| {
        let usage = "_statistics(targets, media): targets is a string";
        let Some(Value::String(targets)) = args.first() else {
            return Err(usage.to_owned());
        };
        let media = match args.get(1) {
            None | Some(Value::Undefined | Value::Null) => None,
            Some(Value::String(media)) => Some(&**media),
            Some(_) => return Err("_statistics(targets, media): media is a string".to_owned()),
        };
        let mut orchestration = orchestration
            .try_borrow_mut()
            .map_err(|_| "the orchestration is busy".to_owned())?;
        let stats = orchestration.statistics(targets, media)?;
        Ok(Value::from_json(&stats))
    })
}
