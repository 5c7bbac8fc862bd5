//! Token buckets for pacing sends, as the generic cell rate algorithm: exact integer time, no
//! refill timer. A bucket lets `burst` sends through at once, then one every `interval`; in any
//! window of length `w` it lets at most `burst + w / interval` sends through.

use crate::config::service::Bucket;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    interval: Duration,
    /// How far ahead of `interval` pacing a burst may run: `(burst - 1) * interval`.
    tolerance: Duration,
    /// The theoretical arrival time of the next send.
    tat: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(bucket: Bucket, now: Instant) -> TokenBucket {
        let interval = bucket.interval();
        TokenBucket {
            interval,
            tolerance: interval * bucket.burst.saturating_sub(1),
            tat: now,
        }
    }

    /// The earliest time a send may go (`now` or earlier when one may go now).
    pub fn ready_at(&self) -> Instant {
        self.tat.checked_sub(self.tolerance).unwrap_or(self.tat)
    }

    /// The earliest time a send may go and still leave `reserve` tokens for others (never more
    /// than `burst - 1`): bulk sends keep a token for a resident's reply this way.
    pub fn ready_at_keeping(&self, reserve: u32) -> Instant {
        let tolerance = self.tolerance.saturating_sub(self.interval * reserve);
        self.tat.checked_sub(tolerance).unwrap_or(self.tat)
    }

    /// Takes a token for a send at `now`; the caller checked [`ready_at`](Self::ready_at).
    pub fn take(&mut self, now: Instant) {
        self.tat = self.tat.max(now) + self.interval;
    }

    /// Whether the bucket is full again at `now`, so forgetting it changes nothing.
    pub fn is_full(&self, now: Instant) -> bool {
        self.tat <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(burst: u32, per_minute: f64) -> Bucket {
        Bucket { burst, per_minute }
    }

    /// Sends as soon as the bucket allows, `n` times from `start`; their times.
    fn greedy(b: &mut TokenBucket, start: Instant, n: usize) -> Vec<Instant> {
        let mut now = start;
        (0..n)
            .map(|_| {
                now = now.max(b.ready_at());
                b.take(now);
                now
            })
            .collect()
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(bucket(3, 20.0), t0);
        let times = greedy(&mut b, t0, 6);
        let secs: Vec<u64> = times.iter().map(|t| (*t - t0).as_secs()).collect();
        assert_eq!(secs, [0, 0, 0, 3, 6, 9]);
        assert!(!b.is_full(t0 + Duration::from_secs(17)));
        assert!(b.is_full(t0 + Duration::from_secs(18)));
    }

    #[test]
    fn keeping_a_reserve_leaves_tokens_for_others() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(bucket(3, 20.0), t0);
        // Bulk sends take the burst but one token…
        assert!(b.ready_at_keeping(1) <= t0);
        b.take(t0);
        assert!(b.ready_at_keeping(1) <= t0);
        b.take(t0);
        assert_eq!(b.ready_at_keeping(1), t0 + Duration::from_secs(3));
        // …which a reply may still take at once.
        assert!(b.ready_at() <= t0);
        // A bucket of one keeps nothing back.
        let one = TokenBucket::new(bucket(1, 20.0), t0);
        assert_eq!(one.ready_at_keeping(1), one.ready_at());
    }

    #[test]
    fn an_idle_bucket_refills_up_to_its_burst_only() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(bucket(2, 60.0), t0);
        greedy(&mut b, t0, 2);
        let later = t0 + Duration::from_secs(3600);
        let times = greedy(&mut b, later, 4);
        let offsets: Vec<u64> = times.iter().map(|t| (*t - later).as_secs()).collect();
        assert_eq!(offsets, [0, 0, 1, 2]);
    }

    #[test]
    fn no_window_holds_more_than_burst_plus_its_length() {
        let t0 = Instant::now();
        let interval = Duration::from_millis(1500);
        let mut b = TokenBucket::new(bucket(5, 40.0), t0);
        // Sends asked for at irregular times.
        let mut times = Vec::new();
        let mut now = t0;
        for i in 0..200u64 {
            now += Duration::from_millis((i * 7919) % 2300);
            let at = now.max(b.ready_at());
            b.take(at);
            times.push(at);
        }
        for i in 0..times.len() {
            for j in i..times.len() {
                let window = times[j] - times[i];
                let allowed = 5 + (window.as_nanos() / interval.as_nanos()) as usize;
                assert!(j - i < allowed, "{} sends in {window:?}", j - i + 1);
            }
        }
    }
}
