//! Whether the data directory can be written, and how much room it has left.
//!
//! A failed write (the disk full, a read-only remount) marks the store *failing*: `/healthz`
//! answers 503 with the reason, `bangban_store_ok` drops to 0 and the error is logged once, at
//! the change, never per message. sled keeps an I/O error for the life of the open database, so
//! freeing space alone does not help: while failing, a background task reopens the database
//! every few seconds and writes a probe; the first probe flushed clears the failure (logged
//! once). Free space under the configured floor (`min_free_mib`) is a *warning* before that.
//!
//! There is one store per process, so its health is the process's: each open store registers
//! here and [`process`] sums them up for `/healthz` and `/metrics`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often free space is looked at on writes (each `/healthz` looks too).
const DISK_CHECK_EVERY: Duration = Duration::from_secs(5);

/// How often a failing store tries to reopen its database and write again.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// The health of one open store.
pub struct Health {
    dir: PathBuf,
    state: Mutex<State>,
    write_failures: AtomicU64,
    /// Free space under which the disk counts as low, in bytes (0: no floor).
    floor: AtomicU64,
    /// Whether `/healthz` and `/metrics` may show bot account ids (`[server] show_accounts`).
    show_accounts: AtomicBool,
    /// Set while a recovery task runs, so that one runs at a time.
    probing: AtomicBool,
}

#[derive(Default)]
struct State {
    failing: Option<Failing>,
    free_bytes: Option<u64>,
    low: bool,
    disk_checked: Option<Instant>,
}

#[derive(Clone)]
struct Failing {
    since: SystemTime,
    reason: String,
}

/// What `/healthz` and `/metrics` show of the stores of this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// `Some(reason)` while a write fails.
    pub failing: Option<String>,
    /// Unix seconds of the first failed write of the current failure.
    pub failing_since: Option<u64>,
    /// Writes that failed since the process started.
    pub write_failures: u64,
    /// Free space for the data directory, when known.
    pub free_bytes: Option<u64>,
    /// The configured floor in bytes (0: none).
    pub floor_bytes: u64,
    /// Free space is under the floor.
    pub low_disk: bool,
    pub show_accounts: bool,
}

impl Health {
    pub(crate) fn new(dir: PathBuf) -> Arc<Health> {
        let health = Arc::new(Health {
            dir,
            state: Mutex::default(),
            write_failures: AtomicU64::default(),
            floor: AtomicU64::default(),
            show_accounts: AtomicBool::default(),
            probing: AtomicBool::default(),
        });
        let mut all = registry().lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|h| h.strong_count() > 0);
        all.push(Arc::downgrade(&health));
        health
    }

    /// Sets the free-space floor (`min_free_mib` in `bangban.toml`); 0 turns the warning off.
    pub fn set_floor_bytes(&self, bytes: u64) {
        self.floor.store(bytes, Ordering::Relaxed);
        self.lock().disk_checked = None;
    }

    /// Lets `/healthz` and `/metrics` show bot account ids (`[server] show_accounts`).
    pub fn set_show_accounts(&self, show: bool) {
        self.show_accounts.store(show, Ordering::Relaxed);
    }

    /// Records a failed write. `true` when this starts a failure (the caller then starts the
    /// recovery); the error is logged here, once per failure.
    pub(crate) fn failed(&self, reason: &str) -> bool {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        if state.failing.is_some() {
            return false;
        }
        state.failing = Some(Failing {
            since: SystemTime::now(),
            reason: reason.to_owned(),
        });
        drop(state);
        tracing::error!(dir = %self.dir.display(), error = reason,
            "the data directory cannot be written: replies and tickets are not stored until it can \
             (is the disk full?). /healthz answers 503; the bot retries by itself");
        true
    }

    /// Records a write that reached the disk, ending a failure (logged once).
    pub(crate) fn succeeded(&self) {
        let mut state = self.lock();
        if let Some(f) = state.failing.take() {
            drop(state);
            let secs = f.since.elapsed().map_or(0, |d| d.as_secs());
            tracing::info!(dir = %self.dir.display(), failed_for_secs = secs,
                "the data directory can be written again; the bot stores and answers as before");
        }
    }

    pub fn is_failing(&self) -> bool {
        self.lock().failing.is_some()
    }

    /// Claims the recovery task; `false` when one already runs.
    pub(crate) fn start_probing(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn stop_probing(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// Looks at the free space of the data directory unless it was looked at lately (`force`: now). Going
    /// under the floor is logged once as a warning, and coming back once.
    pub(crate) fn check_disk(&self, force: bool) {
        {
            let state = self.lock();
            if !force
                && state
                    .disk_checked
                    .is_some_and(|at| at.elapsed() < DISK_CHECK_EVERY)
            {
                return;
            }
        }
        let free = free_bytes(&self.dir);
        let floor = self.floor.load(Ordering::Relaxed);
        let mut state = self.lock();
        state.disk_checked = Some(Instant::now());
        state.free_bytes = free;
        let low = floor > 0 && free.is_some_and(|f| f < floor);
        if low == state.low {
            return;
        }
        state.low = low;
        drop(state);
        let mib = |b: u64| b >> 20;
        if low {
            tracing::warn!(dir = %self.dir.display(), free_mib = free.map(mib), floor_mib = mib(floor),
                "the data directory's disk is nearly full: free space now, before replies and \
                 tickets can no longer be stored (min_free_mib in bangban.toml)");
        } else {
            tracing::info!(dir = %self.dir.display(), free_mib = free.map(mib),
                "the data directory's disk has room again");
        }
    }

    fn report(&self) -> Report {
        let state = self.lock();
        Report {
            failing: state.failing.as_ref().map(|f| f.reason.clone()),
            failing_since: state.failing.as_ref().map(|f| unix_secs(f.since)),
            write_failures: self.write_failures.load(Ordering::Relaxed),
            free_bytes: state.free_bytes,
            floor_bytes: self.floor.load(Ordering::Relaxed),
            low_disk: state.low,
            show_accounts: self.show_accounts.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The stores of this process, summed up: failing if one is, the least free space, accounts
/// shown only if every store's configuration allows it. `check_disk`: look at free space now.
pub fn process(check_disk: bool) -> Report {
    let all: Vec<Arc<Health>> = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut sum = Report {
        show_accounts: !all.is_empty(),
        ..Report::default()
    };
    for h in &all {
        if check_disk {
            h.check_disk(true);
        }
        let r = h.report();
        if sum.failing.is_none() {
            sum.failing = r.failing;
            sum.failing_since = r.failing_since;
        }
        sum.write_failures += r.write_failures;
        if r.low_disk && !sum.low_disk {
            sum.low_disk = true;
            sum.free_bytes = r.free_bytes;
            sum.floor_bytes = r.floor_bytes;
        } else if !sum.low_disk {
            sum.free_bytes = match (sum.free_bytes, r.free_bytes) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            sum.floor_bytes = sum.floor_bytes.max(r.floor_bytes);
        }
        sum.show_accounts &= r.show_accounts;
    }
    sum
}

fn registry() -> &'static Mutex<Vec<Weak<Health>>> {
    static ALL: OnceLock<Mutex<Vec<Weak<Health>>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
}

/// Bytes an unprivileged process can still write on the file system holding `dir`.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    match rustix::fs::statvfs(dir) {
        Ok(s) => Some(s.f_bavail.saturating_mul(s.f_frsize)),
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "could not read the free space");
            None
        }
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
