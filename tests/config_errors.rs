//! A broken config gives clear errors naming the file, the item or key, and what is expected —
//! never a panic, and every problem at once.

mod shipped_config;

use bangban::config::Config;
use shipped_config::shipped_copy;
use std::fs;
use std::path::Path;

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn errors_of(dir: &Path) -> Vec<String> {
    match Config::load(dir) {
        Ok(_) => panic!("broken config loaded"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn shipped_config_is_valid() {
    let (_tmp, dir) = shipped_copy();
    let config = Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.catalog.len() >= 29);
}

#[test]
fn syntax_error_names_file_and_line() {
    let (_tmp, dir) = shipped_copy();
    let file = dir.join("catalog/elder-card.toml");
    edit(&file, "name = ", "name = = ");
    let errors = errors_of(&dir);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("catalog/elder-card.toml: line "),
        "{}",
        errors[0]
    );
}

#[test]
fn unknown_and_missing_fields_are_named() {
    let (_tmp, dir) = shipped_copy();
    edit(&dir.join("catalog/dibao.toml"), "summary = ", "sumary = ");
    let errors = errors_of(&dir);
    assert!(
        errors[0].contains("dibao.toml") && errors[0].contains("sumary"),
        "{errors:?}"
    );
}

#[test]
fn bad_values_name_item_and_field_and_all_are_reported() {
    let (_tmp, dir) = shipped_copy();
    edit(
        &dir.join("catalog/sbk-activate.toml"),
        "count = 1",
        "count = 0",
    );
    edit(
        &dir.join("catalog/sbk-activate.toml"),
        "reviewed_at = \"2026-11-29\"",
        "reviewed_at = \"昨天\"",
    );
    edit(
        &dir.join("matcher.toml"),
        "answer_min_prob = 0.6",
        "answer_min_prob = 3.0",
    );
    let errors = errors_of(&dir);
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        has("sbk-activate.toml: item sbk-activate: materials[0].count: 应为不小于 1 的整数"),
        "{errors:?}"
    );
    assert!(
        has("item sbk-activate: review.reviewed_at: 应为日期，格式 YYYY-MM-DD"),
        "{errors:?}"
    );
    assert!(
        has("matcher.toml: answer_min_prob: expected a probability from 0 to 1"),
        "{errors:?}"
    );
}

#[test]
fn alias_shared_by_two_items_is_refused() {
    let (_tmp, dir) = shipped_copy();
    edit(
        &dir.join("catalog/bus-card.toml"),
        "aliases = [",
        "aliases = [\"社保卡激活\", ",
    );
    let errors = errors_of(&dir);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("社保卡激活") && e.contains("也用这个名称")),
        "{errors:?}"
    );
}

#[test]
fn id_must_match_file_name() {
    let (_tmp, dir) = shipped_copy();
    fs::rename(
        dir.join("catalog/dibao.toml"),
        dir.join("catalog/low-income.toml"),
    )
    .unwrap();
    let errors = errors_of(&dir);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("low-income.toml: item dibao: id: expected the file name")),
        "{errors:?}"
    );
}

#[test]
fn missing_directory_and_files_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let errors = errors_of(&tmp.path().join("nowhere"));
    assert!(errors[0].contains("config directory not found"));
    let (_tmp, dir) = shipped_copy();
    fs::remove_file(dir.join("replies.toml")).unwrap();
    let errors = errors_of(&dir);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("replies.toml: -: cannot read the file")),
        "{errors:?}"
    );
}

#[test]
fn a_rewrite_whose_result_is_rewritten_again_is_refused() {
    let (_tmp, dir) = shipped_copy();
    edit(&dir.join("lexicon.toml"), "\"什么\" = \"什么\"\n", "");
    let errors = errors_of(&dir);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("lexicon.toml: rewrite.么事") && e.contains("什什么事")),
        "{errors:?}"
    );
}

/// The contract with the shared evaluation: every item id it names (its items.tsv, copied into
/// tests/fixtures) is in the shipped catalog.
#[test]
fn every_item_id_of_the_shared_evaluation_is_in_the_catalog() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ids = fs::read_to_string(root.join("tests/fixtures/items.tsv")).unwrap();
    let config = Config::load(&root.join("bot-config")).unwrap_or_else(|e| panic!("{e}"));
    let missing: Vec<&str> = ids
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|id| !id.is_empty() && config.catalog.get(id).is_none())
        .collect();
    assert!(missing.is_empty(), "missing items: {missing:?}");
}

#[test]
fn a_bad_digest_time_and_an_unknown_township_for_an_agents_chat_are_named() {
    let (_tmp, dir) = shipped_copy();
    let org = dir.join("org.toml");
    edit(&org, "at = \"08:30\"", "at = \"8点半\"");
    edit(
        &org,
        "chat = \"900100\"",
        "chat = \"900100\"\ntownship = \"nowhere\"",
    );
    let errors = errors_of(&dir);
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        has("org.toml: digest.at: \"8点半\" is not a time; expected \"HH:MM\""),
        "{errors:?}"
    );
    assert!(
        has("org.toml: agents_chats[0].township: \"nowhere\" is not a township"),
        "{errors:?}"
    );
}
