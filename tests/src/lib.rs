//! Baton's integration and conformance tests live in `tests/tests/`.
