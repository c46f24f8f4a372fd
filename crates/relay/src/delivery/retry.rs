//! Exponential backoff with full jitter, honouring `Retry-After`, within a time budget.

use std::time::Duration;

use rand::Rng;

/// When to try again, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again at this unix-millisecond time.
    RetryAt(i64),
    /// The next try would fall outside the budget.
    GiveUp,
}

/// Where a retry falls within its backoff window: a uniform draw in `[0, 1)`, made once per
/// vendor request. Full jitter spreads the retries of requests that failed together; the
/// orders of one CitrusAd batch were one request, so they share the draw and are retried
/// together, as one batch again. It also keeps their rows side by side in the outbox's
/// waiting index (ordered by next attempt): a failed batch of 100 rewrites a page or two of
/// it, where 100 independent draws rewrote a page per order (the ingest benchmark with every
/// attempt failing: 57 of a group commit's 76 WAL pages, BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter(f64);

impl Jitter {
    pub fn draw(rng: &mut impl Rng) -> Self {
        Jitter(rng.gen::<f64>())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub budget: Duration,
    pub base: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    /// The backoff ceiling after `failed_attempts` failures: `min(cap, base * 2^(n-1))`.
    pub fn ceiling(&self, failed_attempts: u32) -> Duration {
        let exponent = failed_attempts.saturating_sub(1).min(40);
        self.base
            .checked_mul(1u32 << exponent.min(31))
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// Full jitter (a wait between zero and the ceiling, placed by `jitter`), but never sooner
    /// than the vendor's `Retry-After`.
    pub fn delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        jitter: Jitter,
    ) -> Duration {
        let ceiling = self.ceiling(failed_attempts).as_millis() as u64;
        // Each of the ceiling + 1 whole milliseconds equally likely; `min` guards rounding.
        let jittered = ((jitter.0 * (ceiling + 1) as f64) as u64).min(ceiling);
        let jittered = Duration::from_millis(jittered);
        retry_after.map_or(jittered, |after| after.max(jittered))
    }

    /// What to do after the `failed_attempts`-th failure of a row whose budget started at
    /// `budget_started_at` (both unix ms).
    pub fn decide(
        &self,
        failed_attempts: u32,
        budget_started_at: i64,
        now_ms: i64,
        retry_after: Option<Duration>,
        jitter: Jitter,
    ) -> Decision {
        let delay = self.delay(failed_attempts, retry_after, jitter).as_millis() as i64;
        let next = now_ms.saturating_add(delay);
        let deadline = budget_started_at.saturating_add(self.budget.as_millis() as i64);
        if next > deadline {
            Decision::GiveUp
        } else {
            Decision::RetryAt(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            budget: Duration::from_secs(3600),
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let p = policy();
        let ms = |n| p.ceiling(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [100, 200, 400, 800]);
        assert_eq!(ms(7), 5000);
        assert_eq!(ms(1000), 5000);
    }

    #[test]
    fn jitter_stays_within_the_ceiling_and_spreads() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<u128> = (0..200)
            .map(|_| p.delay(4, None, Jitter::draw(&mut rng)).as_millis())
            .collect();
        assert!(delays.iter().all(|&d| d <= 800));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 50, "full jitter should spread the waits");
        assert!(delays.iter().any(|&d| d < 200) && delays.iter().any(|&d| d > 600));
    }

    #[test]
    fn a_draw_spans_the_whole_window_and_places_each_ceiling_alike() {
        let p = policy();
        let at = |attempts, u| p.delay(attempts, None, Jitter(u)).as_millis();
        assert_eq!([at(4, 0.0), at(4, 0.5), at(4, 0.999_999)], [0, 400, 800]);
        // One draw shared by a batch: orders further along wait proportionally longer.
        assert_eq!([at(1, 0.25), at(2, 0.25)], [25, 50]);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            assert!(
                p.delay(1, Some(Duration::from_secs(3)), Jitter::draw(&mut rng))
                    >= Duration::from_secs(3)
            );
        }
    }

    #[test]
    fn the_budget_ends_retries() {
        let p = RetryPolicy {
            budget: Duration::from_secs(10),
            ..policy()
        };
        let mut rng = StdRng::seed_from_u64(3);
        assert!(matches!(
            p.decide(1, 0, 1_000, None, Jitter::draw(&mut rng)),
            Decision::RetryAt(t) if (1_000..=1_100).contains(&t)
        ));
        assert_eq!(
            p.decide(1, 0, 10_001, None, Jitter::draw(&mut rng)),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(
                1,
                0,
                1_000,
                Some(Duration::from_secs(60)),
                Jitter::draw(&mut rng)
            ),
            Decision::GiveUp
        );
    }
}
