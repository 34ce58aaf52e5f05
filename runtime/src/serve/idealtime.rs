//! The `idealtime` parameter of `POST /scxml/session/start`: when the session's initial
//! macrostep should run, in Unix epoch milliseconds.
//!
//! The session is created when the request is accepted (its id is answered at once, and
//! a full shard or a refused scope is refused at once); its initial macrostep runs at
//! `idealtime`, or at once if that has passed. Until then a query shows it with
//! `"started": false`, events sent to it wait for its start, and it can be terminated.
//! The shard's host counts epoch milliseconds ([`crate::local::RealClock`]), so the value
//! needs no conversion; the bound is checked against the system clock.

use protocols::http::params::Params;
use protocols::http::Response;

/// The parameter's name.
pub const IDEALTIME: &str = "idealtime";

/// When to start: `Ok(None)` without `idealtime`, `Ok(Some(epoch_ms))` with a valid one,
/// `Err(400 response)` for a value that is not a whole number of milliseconds or lies
/// more than `ahead_max_ms` after `now_epoch_ms()` (the clock is read only for an
/// `idealtime`: most starts have none).
pub fn start_at_ms(
    params: &Params,
    now_epoch_ms: impl FnOnce() -> u64,
    ahead_max_ms: u32,
) -> Result<Option<u64>, Response> {
    let Some((_, value)) = params.iter().find(|(name, _)| name == IDEALTIME) else {
        return Ok(None);
    };
    let at_ms = match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(text) => text.trim().parse::<u64>().ok(),
        _ => None,
    };
    let Some(at_ms) = at_ms else {
        let reason =
            format!("idealtime must be a whole number of Unix epoch milliseconds, got {value}");
        return Err(Response::error(400, &reason));
    };
    let ahead_ms = at_ms.saturating_sub(now_epoch_ms());
    if ahead_ms > u64::from(ahead_max_ms) {
        let reason = format!(
            "idealtime is {ahead_ms} ms ahead; the limit is {ahead_max_ms} ms \
             (limits.idealtime_ahead_max_ms)"
        );
        return Err(Response::error(400, &reason));
    }
    Ok(Some(at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: serde_json::Value) -> Params {
        vec![("src".into(), "a.scxml".into()), (IDEALTIME.into(), value)]
    }

    #[test]
    fn idealtime_is_whole_epoch_ms_within_the_bound() {
        let now = 1_700_000_000_000;
        assert_eq!(start_at_ms(&Vec::new(), || now, 10).ok(), Some(None));
        let at = serde_json::json!(now + 10);
        assert_eq!(
            start_at_ms(&params(at), || now, 10).ok(),
            Some(Some(now + 10))
        );
        let text = serde_json::json!(format!("{}", now - 5));
        assert_eq!(
            start_at_ms(&params(text), || now, 10).ok(),
            Some(Some(now - 5))
        );
        for bad in [
            serde_json::json!("soon"),
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!(null),
            serde_json::json!(now + 11),
        ] {
            let refused = start_at_ms(&params(bad.clone()), || now, 10);
            let status = refused.err().map(|response| response.status);
            assert_eq!(status, Some(400), "{bad}");
        }
    }
}
