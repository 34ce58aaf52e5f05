//! Entry points for cargo-fuzz targets in `tests/fuzz/`. Not a public API.

use super::{Router, RouterConfig, TargetErrorKind};

/// Parses arbitrary bytes as a target list; must never panic. An error names a column
/// within the input (or just past its end); a success's key parses to the same key.
pub fn skill_expression(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let router = Router::new(RouterConfig::default());
    match router.parse_targets(text) {
        Ok(list) => {
            let again = router.parse_targets(list.key()).expect("a key parses");
            assert_eq!(again.key(), list.key(), "the key is a fixed point");
        }
        Err(error) => {
            let columns = text.chars().count() as u32 + 1;
            assert!(error.column >= 1, "columns count from 1");
            assert!(
                error.column <= columns,
                "the column is within the input: {error}"
            );
            if let TargetErrorKind::TooLong { .. } = error.kind {
                assert!(text.len() > super::TARGETS_BYTES_MAX);
            }
            let _ = error.to_string();
        }
    }
}
