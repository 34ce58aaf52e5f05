//! Shared fixtures for Baton's benchmarks.
