#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| engine::fuzzing::compile_and_evaluate(data));
