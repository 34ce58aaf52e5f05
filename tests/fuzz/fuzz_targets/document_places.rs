#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| runtime::local::places::fuzz_places(data));
