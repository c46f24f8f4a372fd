//! Which delivery rows workers hold, kept in the writer thread's memory rather than in the file.
//!
//! Why in memory: a SQLite outbox is served by one relay process at a time (the file lock of
//! [`super::ServeLock`]), and a lease never has to outlive that process: a new process starts
//! with every row free, which is what releasing a crashed predecessor's leases achieved before.
//! Written into the rows, every claim rewrote each claimed row (and its pages went to the WAL
//! and, by checkpoint, to the file once more) only to be rewritten again by the outcome; that
//! was a third of the writes a delivered order cost. PostgreSQL keeps its leases in the rows:
//! there, several instances share the table.

use std::collections::HashMap;
use std::sync::Arc;

use super::super::{DeliveryState, Destination};

/// A worker's hold on one row.
#[derive(Debug)]
pub(super) struct Lease {
    owner: Arc<str>,
    /// Unix ms; the lease is free from then on.
    until: i64,
    /// The row's state when it was claimed (pending or retrying), which only its outcome
    /// changes: the queue depth moves from it ([`super::counts`]).
    claimed_in: DeliveryState,
}

impl Lease {
    pub fn new(owner: &Arc<str>, until: i64, claimed_in: DeliveryState) -> Self {
        Lease {
            owner: Arc::clone(owner),
            until,
            claimed_in,
        }
    }
}

/// Every lease, by destination then order id. Only the writer thread touches it, in the same
/// order as the writes it applies, so a claim never sees a row half-leased.
///
/// Changes follow the group transaction they were made in: [`Leases::rollback`] undoes every
/// change since the last [`Leases::commit`], so a claim or an outcome whose transaction did not
/// commit leaves no lease taken or ended behind (the group is then redone write by write).
#[derive(Debug, Default)]
pub(super) struct Leases {
    by_destination: [HashMap<String, Lease>; Destination::ALL.len()],
    /// What each change since the last commit replaced, oldest first.
    undo: Vec<(Destination, String, Option<Lease>)>,
}

impl Leases {
    fn of(&self, destination: Destination) -> &HashMap<String, Lease> {
        &self.by_destination[destination as usize]
    }

    fn of_mut(&mut self, destination: Destination) -> &mut HashMap<String, Lease> {
        &mut self.by_destination[destination as usize]
    }

    /// Whether a worker holds the row at `now_ms` (an expired lease holds nothing).
    pub fn is_held(&self, destination: Destination, order_id: &str, now_ms: i64) -> bool {
        self.of(destination)
            .get(order_id)
            .is_some_and(|lease| lease.until > now_ms)
    }

    /// Gives the row to the lease's owner, replacing an expired lease of someone else.
    pub fn take(&mut self, destination: Destination, order_id: String, lease: Lease) {
        let replaced = self.of_mut(destination).insert(order_id.clone(), lease);
        self.undo.push((destination, order_id, replaced));
    }

    /// Ends `owner`'s lease on the row, returning the state the row was claimed in. `None` when
    /// `owner` does not hold it (never did, or its lease ran out and another worker took the
    /// row): then the row is left as it is.
    /// An expired lease nobody took over still counts as held, as it did in the rows: the
    /// worker finished late, but nobody else has attempted the row since.
    pub fn end(
        &mut self,
        destination: Destination,
        order_id: &str,
        owner: &str,
    ) -> Option<DeliveryState> {
        let leases = self.of_mut(destination);
        if leases
            .get(order_id)
            .is_none_or(|lease| &*lease.owner != owner)
        {
            return None;
        }
        let (order_id, lease) = leases.remove_entry(order_id)?;
        let claimed_in = lease.claimed_in;
        self.undo.push((destination, order_id, Some(lease)));
        Some(claimed_in)
    }

    /// The changes so far are part of a committed transaction: keep them.
    pub fn commit(&mut self) {
        self.undo.clear();
    }

    /// The transaction of the changes since [`Leases::commit`] was rolled back: undo them.
    pub fn rollback(&mut self) {
        while let Some((destination, order_id, replaced)) = self.undo.pop() {
            let leases = self.of_mut(destination);
            match replaced {
                Some(lease) => leases.insert(order_id, lease),
                None => leases.remove(&order_id),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(owner: &str, until: i64) -> Lease {
        Lease::new(&Arc::from(owner), until, DeliveryState::Pending)
    }

    #[test]
    fn a_lease_holds_until_it_expires() {
        let mut leases = Leases::default();
        leases.take(Destination::Cibler, "o1".into(), lease("w1", 100));
        assert!(leases.is_held(Destination::Cibler, "o1", 99));
        assert!(!leases.is_held(Destination::Cibler, "o1", 100));
        assert!(
            !leases.is_held(Destination::Citrusad, "o1", 50),
            "per destination"
        );
        assert!(!leases.is_held(Destination::Cibler, "o2", 50));
    }

    #[test]
    fn only_the_holder_ends_a_lease() {
        let mut leases = Leases::default();
        leases.take(Destination::Cibler, "o1".into(), lease("w1", 100));
        assert_eq!(leases.end(Destination::Cibler, "o1", "w2"), None);
        assert!(leases.is_held(Destination::Cibler, "o1", 50));
        assert_eq!(
            leases.end(Destination::Cibler, "o1", "w1"),
            Some(DeliveryState::Pending)
        );
        assert!(!leases.is_held(Destination::Cibler, "o1", 50));
        assert!(
            leases.end(Destination::Cibler, "o1", "w1").is_none(),
            "already ended"
        );
    }

    #[test]
    fn a_rollback_undoes_every_change_since_the_last_commit() {
        let mut leases = Leases::default();
        leases.take(Destination::Cibler, "kept".into(), lease("w1", 100));
        leases.take(Destination::Cibler, "ended".into(), lease("w1", 100));
        leases.take(Destination::Cibler, "taken-over".into(), lease("w1", 10));
        leases.commit();
        leases.take(Destination::Cibler, "new".into(), lease("w2", 100));
        assert_eq!(
            leases.end(Destination::Cibler, "ended", "w1"),
            Some(DeliveryState::Pending)
        );
        leases.take(Destination::Cibler, "taken-over".into(), lease("w2", 100));
        leases.take(Destination::Cibler, "new".into(), lease("w3", 200));
        leases.rollback();
        assert!(leases.is_held(Destination::Cibler, "kept", 50));
        assert!(leases.is_held(Destination::Cibler, "ended", 50));
        assert!(!leases.is_held(Destination::Cibler, "new", 50));
        assert_eq!(leases.end(Destination::Cibler, "taken-over", "w2"), None);
        assert_eq!(
            leases.end(Destination::Cibler, "taken-over", "w1"),
            Some(DeliveryState::Pending)
        );
        // Nothing left to undo once undone.
        leases.rollback();
        assert!(!leases.is_held(Destination::Cibler, "new", 50));
    }

    #[test]
    fn a_row_taken_over_after_expiry_belongs_to_its_new_holder() {
        let mut leases = Leases::default();
        leases.take(Destination::Citrusad, "o1".into(), lease("w1", 100));
        let retrying = Lease::new(&Arc::from("w2"), 300, DeliveryState::Retrying);
        leases.take(Destination::Citrusad, "o1".into(), retrying);
        assert_eq!(leases.end(Destination::Citrusad, "o1", "w1"), None);
        assert_eq!(
            leases.end(Destination::Citrusad, "o1", "w2"),
            Some(DeliveryState::Retrying),
            "the state the row was claimed in"
        );
    }
}
