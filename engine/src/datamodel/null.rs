//! The null datamodel. (Being written: see the datamodel brief.)
