#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nsq_fuzz::harness::lookup_v1_replies(data);
});
