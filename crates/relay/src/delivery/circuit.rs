//! A circuit breaker per destination: when a vendor keeps failing, stop offering it every
//! waiting order and probe it with one order at a time instead.
//!
//! Each order backs off on its own ([`super::retry`]), so without a circuit the requests a
//! down vendor receives grow with the number of orders waiting (about 9 per order over a
//! 10-minute outage, measured), and when it comes back each order still sleeps out its own
//! backoff (the last one up to the backoff cap later). With it: after `threshold` consecutive
//! failed attempts (network errors, timeouts, 429, 5xx) the circuit opens and the worker claims
//! nothing; after a wait (the backoff base, doubling per failed probe, up to `probe_max`) it
//! claims one order as a probe: the waiting order due first, even before its own backoff ends.
//! A probe the vendor answers (2xx, or a 4xx refusing that order: the vendor is up) closes the
//! circuit, and the worker then makes every order waiting for that vendor due at once. Several
//! relay instances each keep their own circuit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::outbox::Destination;

/// One circuit per destination, shared by what claims (the permit) and what records (each
/// request's result).
#[derive(Debug, Clone)]
pub struct Circuits(Arc<[Circuit; 2]>);

impl Circuits {
    pub fn new(threshold: u32, first_wait: Duration, probe_max: Duration) -> Self {
        Circuits(Arc::new(
            Destination::ALL.map(|_| Circuit::new(threshold, first_wait, probe_max)),
        ))
    }

    /// `destination`'s circuit (they are kept in [`Destination::ALL`]'s order).
    pub fn of(&self, destination: Destination) -> &Circuit {
        &self.0[destination as usize]
    }
}

/// What a worker may claim now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: as many orders as usual.
    Full,
    /// Open and its wait is over: one order, as a probe.
    Probe,
    /// Open (or a probe is in flight): nothing.
    Wait,
}

/// How an attempt's result changed the circuit (for logs, metrics and recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    /// Too many consecutive failures: it opened, next probe after `Duration`.
    Opened(Duration),
    /// The probe failed: still open, next probe after `Duration`.
    ProbeFailed(Duration),
    /// The probe was answered: closed; the orders waiting should be made due.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, probes_failed: u32 },
    Probing { probes_failed: u32 },
}

#[derive(Debug)]
pub struct Circuit {
    /// 0: never opens.
    threshold: u32,
    first_wait: Duration,
    probe_max: Duration,
    state: Mutex<State>,
}

impl Circuit {
    pub fn new(threshold: u32, first_wait: Duration, probe_max: Duration) -> Self {
        Circuit {
            threshold,
            first_wait,
            probe_max,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// What may be claimed at `now`. Handing out a probe marks it in flight: report its
    /// result with [`Circuit::record`], or [`Circuit::probe_unused`] if nothing was due.
    pub fn permit(&self, now: Instant) -> Permit {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Permit::Full,
            State::Open {
                until,
                probes_failed,
            } if now >= until => {
                *state = State::Probing { probes_failed };
                Permit::Probe
            }
            State::Open { .. } | State::Probing { .. } => Permit::Wait,
        }
    }

    /// A probe was permitted but nothing was due to send: the next round may probe again.
    pub fn probe_unused(&self, now: Instant) {
        let mut state = self.lock();
        if let State::Probing { probes_failed } = *state {
            *state = State::Open {
                until: now,
                probes_failed,
            };
        }
    }

    /// One attempt's result: `answered` when the vendor gave a definite answer (delivered, or
    /// refused that order), false when it failed in a way worth retrying.
    pub fn record(&self, answered: bool, now: Instant) -> Change {
        if self.threshold == 0 {
            return Change::None;
        }
        let mut state = self.lock();
        let (next, change) = match (*state, answered) {
            (State::Closed { .. }, true) => (State::Closed { failures: 0 }, Change::None),
            (State::Closed { failures }, false) if failures + 1 >= self.threshold => {
                let wait = self.wait_after(0);
                (self.open(now, wait, 0), Change::Opened(wait))
            }
            (State::Closed { failures }, false) => (
                State::Closed {
                    failures: failures + 1,
                },
                Change::None,
            ),
            (State::Probing { .. }, true) => (State::Closed { failures: 0 }, Change::Closed),
            (State::Probing { probes_failed }, false) => {
                let wait = self.wait_after(probes_failed + 1);
                (
                    self.open(now, wait, probes_failed + 1),
                    Change::ProbeFailed(wait),
                )
            }
            // Late results of requests sent before it opened change nothing.
            (open @ State::Open { .. }, _) => (open, Change::None),
        };
        *state = next;
        change
    }

    fn open(&self, now: Instant, wait: Duration, probes_failed: u32) -> State {
        State::Open {
            until: now + wait,
            probes_failed,
        }
    }

    /// The first wait, doubled per failed probe, at most `probe_max` (which may be shorter).
    fn wait_after(&self, probes_failed: u32) -> Duration {
        self.first_wait
            .saturating_mul(1u32 << probes_failed.min(20))
            .min(self.probe_max)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, valid even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn circuit() -> Circuit {
        Circuit::new(3, SECOND, 4 * SECOND)
    }

    #[test]
    fn stays_closed_below_the_threshold_and_an_answer_resets_the_count() {
        let circuit = circuit();
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(circuit.record(false, now), Change::None);
            assert_eq!(circuit.record(false, now), Change::None);
            assert_eq!(circuit.record(true, now), Change::None);
        }
        assert_eq!(circuit.permit(now), Permit::Full);
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes_one_at_a_time() {
        let circuit = circuit();
        let now = Instant::now();
        circuit.record(false, now);
        circuit.record(false, now);
        assert_eq!(circuit.record(false, now), Change::Opened(SECOND));
        assert_eq!(circuit.permit(now), Permit::Wait);
        assert_eq!(circuit.permit(now + SECOND), Permit::Probe);
        // One probe in flight: nothing more.
        assert_eq!(circuit.permit(now + 2 * SECOND), Permit::Wait);
        assert_eq!(circuit.record(true, now + 2 * SECOND), Change::Closed);
        assert_eq!(circuit.permit(now + 2 * SECOND), Permit::Full);
    }

    #[test]
    fn failed_probes_double_the_wait_up_to_the_maximum() {
        let circuit = circuit();
        let mut now = Instant::now();
        for _ in 0..3 {
            circuit.record(false, now);
        }
        let mut waits = Vec::new();
        for _ in 0..4 {
            now += 10 * SECOND;
            assert_eq!(circuit.permit(now), Permit::Probe);
            match circuit.record(false, now) {
                Change::ProbeFailed(wait) => waits.push(wait),
                other => panic!("{other:?}"),
            }
            assert_eq!(
                circuit.permit(now + *waits.last().unwrap() / 2),
                Permit::Wait
            );
        }
        assert_eq!(waits, [2 * SECOND, 4 * SECOND, 4 * SECOND, 4 * SECOND]);
    }

    #[test]
    fn results_of_requests_sent_before_it_opened_change_nothing() {
        let circuit = circuit();
        let now = Instant::now();
        for _ in 0..3 {
            circuit.record(false, now);
        }
        assert_eq!(circuit.record(true, now), Change::None);
        assert_eq!(circuit.record(false, now), Change::None);
        assert_eq!(circuit.permit(now), Permit::Wait);
    }

    #[test]
    fn an_unused_probe_can_be_taken_again() {
        let circuit = circuit();
        let now = Instant::now();
        for _ in 0..3 {
            circuit.record(false, now);
        }
        assert_eq!(circuit.permit(now + SECOND), Permit::Probe);
        circuit.probe_unused(now + SECOND);
        assert_eq!(circuit.permit(now + SECOND), Permit::Probe);
    }

    #[test]
    fn a_zero_threshold_never_opens() {
        let circuit = Circuit::new(0, SECOND, SECOND);
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(circuit.record(false, now), Change::None);
        }
        assert_eq!(circuit.permit(now), Permit::Full);
    }
}
