//! Every input saved under `fuzz/regressions/<target>/` (the seeds, and every crash a fuzzer
//! ever found, kept once fixed) through its fuzz target's harness, on stable Rust: what the
//! fuzzers found stays found. `scripts/fuzz.sh` runs the fuzzers themselves.

#[path = "../fuzz/harness.rs"]
mod harness;

#[test]
fn every_saved_input_passes_its_harness() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut ran = 0;
    for (target, harness) in harness::TARGETS {
        let dir = root.join(target);
        let inputs = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for input in inputs {
            let path = input.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| harness(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its harness",
                path.display()
            );
            ran += 1;
        }
    }
    assert!(
        ran >= harness::TARGETS.len(),
        "each target has saved inputs"
    );
}
