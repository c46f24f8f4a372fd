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

use super::super::Destination;

#[derive(Debug)]
struct Lease {
    owner: Arc<str>,
    /// Unix ms; the lease is free from then on.
    until: i64,
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

    /// Gives the row to `owner` until `until`, replacing an expired lease of someone else.
    pub fn take(
        &mut self,
        destination: Destination,
        order_id: String,
        owner: &Arc<str>,
        until: i64,
    ) {
        let lease = Lease {
            owner: Arc::clone(owner),
            until,
        };
        let replaced = self.of_mut(destination).insert(order_id.clone(), lease);
        self.undo.push((destination, order_id, replaced));
    }

    /// Ends `owner`'s lease on the row. False when `owner` does not hold it (never did, or its
    /// lease ran out and another worker took the row): then the row is left as it is.
    /// An expired lease nobody took over still counts as held, as it did in the rows: the
    /// worker finished late, but nobody else has attempted the row since.
    pub fn end(&mut self, destination: Destination, order_id: &str, owner: &str) -> bool {
        let leases = self.of_mut(destination);
        match leases.get(order_id) {
            Some(lease) if &*lease.owner == owner => {
                let ended = leases.remove_entry(order_id);
                if let Some((order_id, lease)) = ended {
                    self.undo.push((destination, order_id, Some(lease)));
                }
                true
            }
            _ => false,
        }
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

    fn owner(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn a_lease_holds_until_it_expires() {
        let mut leases = Leases::default();
        leases.take(Destination::Cibler, "o1".into(), &owner("w1"), 100);
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
        leases.take(Destination::Cibler, "o1".into(), &owner("w1"), 100);
        assert!(!leases.end(Destination::Cibler, "o1", "w2"));
        assert!(leases.is_held(Destination::Cibler, "o1", 50));
        assert!(leases.end(Destination::Cibler, "o1", "w1"));
        assert!(!leases.is_held(Destination::Cibler, "o1", 50));
        assert!(
            !leases.end(Destination::Cibler, "o1", "w1"),
            "already ended"
        );
    }

    #[test]
    fn a_rollback_undoes_every_change_since_the_last_commit() {
        let mut leases = Leases::default();
        leases.take(Destination::Cibler, "kept".into(), &owner("w1"), 100);
        leases.take(Destination::Cibler, "ended".into(), &owner("w1"), 100);
        leases.take(Destination::Cibler, "taken-over".into(), &owner("w1"), 10);
        leases.commit();
        leases.take(Destination::Cibler, "new".into(), &owner("w2"), 100);
        assert!(leases.end(Destination::Cibler, "ended", "w1"));
        leases.take(Destination::Cibler, "taken-over".into(), &owner("w2"), 100);
        leases.take(Destination::Cibler, "new".into(), &owner("w3"), 200);
        leases.rollback();
        assert!(leases.is_held(Destination::Cibler, "kept", 50));
        assert!(leases.is_held(Destination::Cibler, "ended", 50));
        assert!(!leases.is_held(Destination::Cibler, "new", 50));
        assert!(!leases.end(Destination::Cibler, "taken-over", "w2"));
        assert!(leases.end(Destination::Cibler, "taken-over", "w1"));
        // Nothing left to undo once undone.
        leases.rollback();
        assert!(!leases.is_held(Destination::Cibler, "new", 50));
    }

    #[test]
    fn a_row_taken_over_after_expiry_belongs_to_its_new_holder() {
        let mut leases = Leases::default();
        leases.take(Destination::Citrusad, "o1".into(), &owner("w1"), 100);
        leases.take(Destination::Citrusad, "o1".into(), &owner("w2"), 300);
        assert!(!leases.end(Destination::Citrusad, "o1", "w1"));
        assert!(leases.end(Destination::Citrusad, "o1", "w2"));
    }
}
