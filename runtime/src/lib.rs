//! Baton's runtime: hosts engine sessions and performs their effects.
#![warn(missing_docs)]
