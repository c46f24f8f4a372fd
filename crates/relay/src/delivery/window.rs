//! Up to N vendor requests in flight for one destination: each request that ends frees its
//! place for the next due orders at once, so one slow answer holds back only its own orders.
//! (Rounds of requests that all had to end before the next round waited for their slowest
//! answer: the vendor's tail latency, not its mean, set the pace.) A request carries one order
//! for CibleR and a batch for CitrusAd; the worker says how to claim and send them
//! ([`Requests`]), and [`keep_in_flight`] keeps the places filled.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::{JoinError, JoinSet};

use crate::outbox::Destination;

/// A vendor request, or the recording of outcomes, ready to run on its own task.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a claim for the free places gave.
pub struct Claimed<T> {
    /// One request per place taken.
    pub requests: Vec<Task<T>>,
    /// Orders claimed, sent or handed back (the worker's count of rows handled).
    pub orders: usize,
    /// Whether the claim took all it asked for, so more orders may be due.
    pub filled: bool,
    /// A circuit probe: nothing more is claimed until it has ended.
    pub probe: bool,
}

/// How a destination's worker claims and sends its requests.
#[async_trait::async_trait]
pub trait Requests: Send + Sync + 'static {
    /// What a request returns when it ends.
    type Ended: Send + 'static;

    fn destination(&self) -> Destination;

    /// How many requests may be in flight at once.
    fn places(&self) -> usize;

    /// Claims due orders for up to `free` requests. Orders claimed as `shutdown` turned true
    /// are handed back unsent (for the next start) rather than returned as requests.
    async fn claim(&self, free: usize, shutdown: &watch::Receiver<bool>) -> Claimed<Self::Ended>;

    /// What to do once requests have ended (they are given together when they ended
    /// together): a task run while the next requests go out, if any.
    fn ended(&self, ended: Vec<Result<Self::Ended, JoinError>>) -> Option<Task<()>>;
}

/// Keeps up to [`Requests::places`] requests in flight until none is left to send: a request
/// that ends, a stored checkout (`wake`) or the poll interval lets the free places be filled
/// again.
/// Returns how many orders were claimed (0: nothing was due). In-flight requests are awaited
/// even during shutdown: each ends within the vendor timeout, and finishing beats sending the
/// orders a second time after a restart.
pub async fn keep_in_flight<R: Requests>(
    requests: &R,
    poll_interval: Duration,
    shutdown: &watch::Receiver<bool>,
    wake: &Notify,
) -> usize {
    let places = requests.places();
    let mut sending = JoinSet::new();
    let mut recording = JoinSet::new();
    let mut handled = 0;
    // Whether the outbox may hold more due orders: true after a claim that took all it asked
    // for, and again once a request ends, a checkout is stored or the poll interval passes.
    let mut more_may_be_due = true;
    let mut probing = false;
    loop {
        let free = places - sending.len();
        let may_claim = !probing && free > 0 && !*shutdown.borrow();
        if more_may_be_due && may_claim {
            let claimed = requests.claim(free, shutdown).await;
            more_may_be_due = claimed.filled;
            probing = claimed.probe;
            handled += claimed.orders;
            for request in claimed.requests {
                sending.spawn(request);
            }
            continue;
        }
        if sending.is_empty() {
            break;
        }
        tokio::select! {
            Some(first) = sending.join_next() => {
                let mut ended = vec![first];
                while let Some(next) = sending.try_join_next() {
                    ended.push(next);
                }
                if let Some(task) = requests.ended(ended) {
                    recording.spawn(task);
                }
                // A busy run can last as long as orders keep coming: let go of the tasks
                // already done as it goes.
                while recording.try_join_next().is_some() {}
                more_may_be_due = true;
            }
            _ = wake.notified(), if may_claim => more_may_be_due = true,
            _ = tokio::time::sleep(poll_interval), if may_claim => more_may_be_due = true,
        }
    }
    recording.join_all().await;
    handled
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Hands out `due` orders one per request (one at a time, as a circuit's probe, when
    /// `probing`); each request sleeps for its own duration and counts how many were in flight
    /// with it.
    struct Fake {
        places: usize,
        probing: bool,
        due: Mutex<Vec<Duration>>,
        in_flight: Arc<AtomicUsize>,
        most_in_flight: Arc<AtomicUsize>,
        ended_order: Arc<Mutex<Vec<Duration>>>,
    }

    impl Fake {
        fn new(places: usize, due: &[u64]) -> Self {
            Fake {
                places,
                probing: false,
                due: Mutex::new(
                    due.iter()
                        .rev()
                        .map(|ms| Duration::from_millis(*ms))
                        .collect(),
                ),
                in_flight: Arc::default(),
                most_in_flight: Arc::default(),
                ended_order: Arc::default(),
            }
        }
    }

    #[async_trait::async_trait]
    impl Requests for Fake {
        type Ended = Duration;

        fn destination(&self) -> Destination {
            Destination::Cibler
        }

        fn places(&self) -> usize {
            self.places
        }

        async fn claim(&self, free: usize, _: &watch::Receiver<bool>) -> Claimed<Duration> {
            let mut due = self.due.lock().unwrap();
            let asked = if self.probing { 1 } else { free };
            let take = asked.min(due.len());
            let taken: Vec<Duration> = (0..take).filter_map(|_| due.pop()).collect();
            let requests = taken
                .into_iter()
                .map(|wait| {
                    let in_flight = self.in_flight.clone();
                    let most = self.most_in_flight.clone();
                    Box::pin(async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(wait).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        wait
                    }) as Task<Duration>
                })
                .collect();
            Claimed {
                requests,
                orders: take,
                filled: take == asked,
                probe: self.probing,
            }
        }

        fn ended(&self, ended: Vec<Result<Duration, JoinError>>) -> Option<Task<()>> {
            let order = self.ended_order.clone();
            Some(Box::pin(async move {
                order
                    .lock()
                    .unwrap()
                    .extend(ended.into_iter().map(Result::unwrap));
            }))
        }
    }

    async fn run(fake: &Fake) -> usize {
        let (_stop, shutdown) = watch::channel(false);
        keep_in_flight(fake, Duration::from_secs(60), &shutdown, &Notify::new()).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_holds_back_only_its_own_place() {
        // One slow request first, then six quick ones, with two places.
        let fake = Fake::new(2, &[1000, 10, 10, 10, 10, 10, 10]);
        assert_eq!(run(&fake).await, 7);
        let ended = fake.ended_order.lock().unwrap().clone();
        assert_eq!(ended.len(), 7);
        // Every quick request ended before the slow one: the other place kept working.
        assert_eq!(
            ended.last(),
            Some(&Duration::from_millis(1000)),
            "{ended:?}"
        );
        assert_eq!(fake.most_in_flight.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_in_flight_than_places() {
        let fake = Fake::new(3, &[5; 40]);
        assert_eq!(run(&fake).await, 40);
        assert_eq!(fake.most_in_flight.load(Ordering::SeqCst), 3);
        assert_eq!(fake.ended_order.lock().unwrap().len(), 40);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_is_sent_alone_and_ends_the_run() {
        let fake = Fake {
            probing: true,
            ..Fake::new(4, &[5; 6])
        };
        assert_eq!(run(&fake).await, 1);
        assert_eq!(fake.most_in_flight.load(Ordering::SeqCst), 1);
        // The others wait for the probe's answer to close the circuit (the next run).
        assert_eq!(fake.due.lock().unwrap().len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_due_ends_at_once() {
        let fake = Fake::new(4, &[]);
        assert_eq!(run(&fake).await, 0);
    }
}
