//! quick-xml to an element tree with positions. (Being written: see the compiler brief.)
