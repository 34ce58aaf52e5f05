#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| protocols::fuzzing::certificate_names(data));
