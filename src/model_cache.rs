//! The trained matcher, kept on disk between runs so that `bangban ask` answers in well under
//! 300 ms: training takes most of a second, loading a saved state a few milliseconds.
//!
//! The file name is a hash of everything training reads (the examples of the catalog, the
//! matters, the intents and the vague families with their labels, the lexicon, matcher.toml) and
//! of the running binary, so any change to
//! them — or a new build — trains afresh. Training is deterministic, so a saved state is exactly
//! what training would make. The cache is an optimisation only: when it cannot be read or
//! written the matcher is trained, and a damaged file is ignored.
//!
//! Where: `$BANGBAN_CACHE_DIR`, else `$XDG_CACHE_HOME/bangban`, else `~/.cache/bangban`.

use crate::config::Config;
use crate::understand::{Matcher, examples};
use std::hash::Hasher;
use std::path::PathBuf;

/// The matcher for `config`: from the cache when a state for the same inputs is there, else
/// trained (and saved for next time).
pub fn matcher(config: &Config) -> Matcher {
    let Some(dir) = cache_dir() else {
        return Matcher::new(config);
    };
    let path = dir.join(format!("matcher-{:016x}.bin", fingerprint(config)));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(m) = Matcher::from_state(
            &config.catalog,
            &config.matters,
            &config.lexicon,
            &config.tuning,
            &bytes,
        ) {
            return m;
        }
        tracing::warn!(path = %path.display(), "saved matcher unreadable; training again");
    }
    let m = Matcher::new(config);
    if let Err(e) = save(&dir, &path, &m.trained_state()) {
        tracing::debug!(error = %e, "matcher not cached");
    }
    m
}

fn cache_dir() -> Option<PathBuf> {
    let env = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("BANGBAN_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("bangban")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/bangban")))
}

/// Written to a temporary file and renamed, so a reader never sees half a state; older states
/// are removed.
fn save(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let p = entry.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("matcher-") && name.ends_with(".bin") && p != path {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(())
}

/// A hash of what training reads (the examples with their labels, the lexicon, the tuning, how
/// matters are grouped) and of the binary that trains.
fn fingerprint(config: &Config) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    let examples = examples::collect(
        &config.catalog,
        &config.matters,
        &config.intents,
        &config.vague,
    );
    for e in &examples {
        h.write(e.text.as_bytes());
        h.write(format!("{:?}{:?}{:?}", e.intent, e.topic, e.aspect).as_bytes());
    }
    h.write_usize(config.catalog.len());
    for m in config.matters.list() {
        h.write(m.neighbours.join(",").as_bytes());
        h.write_u8(0);
    }
    h.write(format!("{:?}{:?}", config.lexicon, config.tuning).as_bytes());
    if let Some(meta) = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
    {
        h.write_u64(meta.len());
        if let Ok(t) = meta.modified()
            && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
        {
            h.write_u128(d.as_nanos());
        }
    }
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.finish()
}
