//! The queue depth (`delivery_counts`, read by `/metrics`), kept by the writer: each write
//! notes the state changes it made, and the group transaction adds them up in one upsert per
//! (destination, state) that changed, just before it commits.
//!
//! Why not triggers (which kept it before): a trigger ran two statements for every row a write
//! touched (an insert's two deliveries, each outcome), and made each of those writes a
//! multi-row statement that SQLite backs with a statement journal. That was a quarter of the
//! writer's time per hand-off (`bench/ingest.py`); a group of a hundred hand-offs now costs at
//! most one upsert per state it changed. Every write to a delivery's state goes through
//! [`super::writes`], whichever process runs it (the serving relay, or an operator command with
//! its own writer), so the counts stay exact; the storage tests check them after every kind of
//! change.

use rusqlite::{params, Connection};

use super::super::{DeliveryState, Destination};

/// The changes to the counts since the last commit, not written yet.
#[derive(Debug, Default)]
pub(super) struct CountChanges {
    by_destination: [[i64; DeliveryState::ALL.len()]; Destination::ALL.len()],
}

impl CountChanges {
    /// A row of `destination` entered `to`, from `from` (`None`: a new row).
    pub fn moved(
        &mut self,
        destination: Destination,
        from: Option<DeliveryState>,
        to: DeliveryState,
    ) {
        let counts = &mut self.by_destination[destination as usize];
        if let Some(from) = from {
            counts[from as usize] -= 1;
        }
        counts[to as usize] += 1;
    }

    /// A row of `destination` in state `from` was removed (pruned at the retention).
    pub fn removed(&mut self, destination: Destination, from: DeliveryState) {
        self.by_destination[destination as usize][from as usize] -= 1;
    }

    /// Adds the changes to `delivery_counts`, inside the caller's transaction, and starts over.
    pub fn write(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        let changed = Destination::ALL.into_iter().flat_map(|destination| {
            DeliveryState::ALL
                .into_iter()
                .map(move |state| (destination, state))
        });
        for (destination, state) in changed {
            let change =
                std::mem::take(&mut self.by_destination[destination as usize][state as usize]);
            if change != 0 {
                connection
                    .prepare_cached(
                        "INSERT INTO delivery_counts (destination, state, n) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (destination, state) DO UPDATE SET n = n + excluded.n",
                    )?
                    .execute(params![destination.as_str(), state.as_str(), change])?;
            }
        }
        Ok(())
    }

    /// The transaction that made the changes was rolled back: forget them.
    pub fn forget(&mut self) {
        *self = CountChanges::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(connection: &Connection) -> Vec<(String, String, i64)> {
        connection
            .prepare("SELECT destination, state, n FROM delivery_counts ORDER BY 1, 2")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn connection() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        super::super::schema::apply(&mut connection).unwrap();
        connection
    }

    #[test]
    fn changes_add_up_per_destination_and_state() {
        let connection = connection();
        let mut changes = CountChanges::default();
        changes.moved(Destination::Cibler, None, DeliveryState::Pending);
        changes.moved(Destination::Cibler, None, DeliveryState::Pending);
        changes.moved(Destination::Citrusad, None, DeliveryState::Skipped);
        changes.moved(
            Destination::Cibler,
            Some(DeliveryState::Pending),
            DeliveryState::Delivered,
        );
        changes.write(&connection).unwrap();
        changes.moved(
            Destination::Cibler,
            Some(DeliveryState::Pending),
            DeliveryState::Retrying,
        );
        changes.write(&connection).unwrap();
        assert_eq!(
            counts(&connection),
            [
                ("cibler".into(), "delivered".into(), 1),
                ("cibler".into(), "pending".into(), 0),
                ("cibler".into(), "retrying".into(), 1),
                ("citrusad".into(), "skipped".into(), 1),
            ]
        );
    }

    #[test]
    fn forgotten_changes_are_not_written() {
        let connection = connection();
        let mut changes = CountChanges::default();
        changes.moved(Destination::Cibler, None, DeliveryState::Pending);
        changes.forget();
        changes.write(&connection).unwrap();
        assert!(counts(&connection).is_empty());
    }

    #[test]
    fn a_move_that_cancels_out_writes_nothing() {
        let connection = connection();
        let mut changes = CountChanges::default();
        changes.moved(
            Destination::Cibler,
            Some(DeliveryState::Dead),
            DeliveryState::Pending,
        );
        changes.moved(
            Destination::Cibler,
            Some(DeliveryState::Pending),
            DeliveryState::Dead,
        );
        changes.write(&connection).unwrap();
        assert!(counts(&connection).is_empty());
    }
}
