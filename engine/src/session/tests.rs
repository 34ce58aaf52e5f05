//! Interpreter tests (see the W3C suite in tests/ for conformance).
