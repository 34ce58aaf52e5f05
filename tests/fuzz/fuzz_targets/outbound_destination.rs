#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| runtime::outbound::destination::fuzz_destination(data));
