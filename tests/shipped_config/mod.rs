//! A copy of the shipped `bot-config/` in a temporary directory, for tests that break it.

use std::fs;
use std::path::{Path, PathBuf};

/// The copy; it lives as long as the returned `TempDir`.
pub fn shipped_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bot-config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
    (tmp, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
