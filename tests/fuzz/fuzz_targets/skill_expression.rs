#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| runtime::routing::fuzzing::skill_expression(data));
