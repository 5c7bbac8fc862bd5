//! The fuzz corpora (`tests/fuzz_corpus/<target>/`, found by `cargo fuzz` over `fuzz/`),
//! replayed on the stable toolchain: every input kept, including each crash once found and
//! fixed, goes through the same harness as the fuzz target, which panics on a crash or an
//! insane result.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

/// Runs `check` on every file of the target's corpus; fails naming the inputs that panic.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: these inputs fail: {failed:#?}"
    );
}

#[test]
fn cq_code_parser_corpus() {
    replay("cq", harness::cq);
}

#[test]
fn onebot_event_parser_corpus() {
    replay("onebot_event", harness::onebot_event);
}

#[test]
fn wecom_decrypt_corpus() {
    replay("wecom_decrypt", harness::wecom_decrypt);
}

#[test]
fn qqbot_webhook_verifier_corpus() {
    replay("qqbot_webhook", harness::qqbot_webhook);
}

#[test]
fn question_normaliser_corpus() {
    replay("normalize", harness::normalize);
}
