//! The ECMAScript datamodel. (Being written: see the datamodel brief.)
