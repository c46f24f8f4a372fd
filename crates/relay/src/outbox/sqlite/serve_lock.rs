//! One serving relay per SQLite outbox file.
//!
//! A relay that starts to serve a file frees every lease in it ([`super::SqliteOutbox::open_to_serve`]),
//! so that a restart after a crash resumes its deliveries at once; a second relay serving the
//! same file would so free the first one's leases, claim the rows it is delivering, and both
//! vendors would get those orders twice. A serving relay therefore takes an exclusive lock on a
//! file beside it, `<database>-serve.lock`, and holds it until it exits. The kernel drops the
//! lock when the process dies, even by `kill -9`, so a restart after a crash never waits for
//! it. Operator commands (`status`, `dead-letters`, `import`) do not take it: they free no
//! lease, and write only rows no lease covers.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::super::StorageError;

/// Held while this process serves the outbox; dropping it releases the file.
#[derive(Debug)]
pub(super) struct ServeLock {
    _file: File,
}

impl ServeLock {
    pub fn acquire(database: &Path) -> Result<Self, StorageError> {
        let path = lock_path(database);
        let failed = |source| StorageError::ServeLock {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => Ok(ServeLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StorageError::AlreadyServed { path }),
            Err(TryLockError::Error(source)) => Err(failed(source)),
        }
    }
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-serve.lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_server_of_the_same_file_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("outbox.db");
        let first = ServeLock::acquire(&database).unwrap();
        let refused = ServeLock::acquire(&database).unwrap_err();
        assert!(
            matches!(&refused, StorageError::AlreadyServed { path } if path.ends_with("outbox.db-serve.lock")),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("another relay"), "{refused}");
        drop(first);
        ServeLock::acquire(&database).expect("free once the first server is gone");
        let other = dir.path().join("other.db");
        ServeLock::acquire(&other).expect("another file is another outbox");
    }
}
