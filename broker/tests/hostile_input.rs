//! Hostile input on stable Rust: replays the cargo-fuzz corpus (`fuzz/corpus/<target>/`)
//! through the same harness the fuzz targets use, then throws proptest-generated and
//! mutated inputs at it. Every parser must return (no panic, no hang) for every input.

#[path = "../../fuzz/src/harness.rs"]
mod harness;

use std::path::PathBuf;

use proptest::prelude::*;

type Harness = fn(&[u8]) -> usize;

const TARGETS: &[(&str, Harness)] = &[
    ("wire_frames", harness::wire_frames),
    ("v2_commands", harness::v2_commands),
    ("lookup_v1_replies", harness::lookup_v1_replies),
    ("decompress", harness::decompress),
    ("diskqueue_reader", harness::diskqueue_reader),
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn corpus_replays_and_seeds_parse() {
    for (target, run) in TARGETS {
        let seeds = corpus(target);
        assert!(!seeds.is_empty(), "{target} has a seed corpus");
        let parsed: usize = seeds.iter().map(|s| run(s)).sum();
        assert!(parsed > 0, "{target}: the valid seeds decode to something");
    }
}

#[test]
fn seeds_decode_to_the_expected_counts() {
    let seeds = corpus("v2_commands");
    // identify: IDENTIFY + NOP
    assert!(seeds.iter().any(|s| harness::v2_commands(s) == 2));
    assert_eq!(harness::decompress(&corpus("decompress")[0]), 400);
    assert!(corpus("diskqueue_reader")
        .iter()
        .any(|s| harness::diskqueue_reader(s) == 2));
}

/// Every prefix and single-byte corruption of every seed.
#[test]
fn truncated_and_corrupted_seeds_do_not_panic() {
    for (target, run) in TARGETS {
        let step = if *target == "diskqueue_reader" { 7 } else { 1 };
        for seed in corpus(target) {
            for cut in (0..seed.len()).step_by(step) {
                run(&seed[..cut]);
            }
            for i in (0..seed.len()).step_by(step) {
                let mut bad = seed.clone();
                bad[i] ^= 0xa5;
                run(&bad);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        harness::wire_frames(&data);
        harness::v2_commands(&data);
        harness::lookup_v1_replies(&data);
        harness::decompress(&data);
    }

    #[test]
    fn random_commands_do_not_panic(
        name in prop::sample::select(vec!["PUB", "MPUB", "DPUB", "IDENTIFY", "AUTH", "SUB", "RDY", "FIN"]),
        params in "[ a-z0-9#]{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut data = format!("{name} {params}\n").into_bytes();
        data.extend_from_slice(&body);
        harness::v2_commands(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_diskqueue_files_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        harness::diskqueue_reader(&data);
    }
}
