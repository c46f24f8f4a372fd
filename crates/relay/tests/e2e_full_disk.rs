//! A full disk under the SQLite outbox (the outbox on a small tmpfs, filled up): hand-offs are
//! answered 503 with a JSON error and `Retry-After`, never 500; the process stays up; once space
//! returns it accepts again without a restart; and every order that got a 202, before, during
//! or after, reaches both sandbox vendors.
//!
//! Mounting a tmpfs needs root, which CI and the project's machines have; elsewhere the test
//! fails saying so (it is never skipped).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A tmpfs of a fixed size, mounted on a temp dir for the test's life.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            mounted.status.success(),
            "mounting a {size} tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes a file until the file system has no space left; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        if let Err(e) = file.write_all(&chunk).and_then(|()| file.sync_data()) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
            // What a partial write left is as much as fits; smaller writes take the rest.
            for size in [4096, 512, 1] {
                while file.write_all(&chunk[..size]).is_ok() {}
            }
            return path;
        }
    }
}

#[test]
fn a_full_disk_answers_503_and_recovers_without_a_restart_losing_nothing() {
    let disk = Tmpfs::mount("16m");
    let sandbox = Sandbox::start(&[]);
    let options = RelayOptions {
        database_url: Some(format!(
            "sqlite://{}",
            disk.path().join("outbox.db").display()
        )),
        ..RelayOptions::default()
    };
    let mut relay = Relay::start(&sandbox, options);
    let accepted = std::cell::RefCell::new(Vec::<u64>::new());
    let hand_off = |relay: &Relay, order_id: u64| {
        let reply = relay.hand_off(&checkout(order_id), Some("CIB1.7.1764000000"));
        if reply.status == 202 {
            accepted.borrow_mut().push(order_id);
        }
        reply
    };

    for order_id in 8_100_001..=8_100_020 {
        assert_eq!(hand_off(&relay, order_id).status, 202);
    }

    let filler = fill(disk.path());
    // Free pages inside the database may take a few more; then the disk is full.
    let mut refused = None;
    for order_id in 8_100_101..=8_100_400 {
        let reply = hand_off(&relay, order_id);
        match reply.status {
            202 => continue,
            503 => {
                assert!(
                    reply.body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                    "a JSON error: {}",
                    reply.text
                );
                assert!(reply.header("retry-after").is_some(), "{}", reply.text);
                refused = Some(order_id);
                break;
            }
            other => panic!("a full disk answered {other}: {}", reply.text),
        }
    }
    let refused = refused.expect("a hand-off refused with 503 once the disk is full");
    eprintln!(
        "full disk: refused order {refused} after {} accepted",
        accepted.borrow().len()
    );
    // Still up. (A repeat may be refused again or, when a WAL checkpoint has just freed a few
    // pages, accepted: both are right, nothing else is.)
    let repeat = hand_off(&relay, refused).status;
    eprintln!("full disk: its repeat answered {repeat}");
    assert!(repeat == 503 || repeat == 202, "a repeat answered {repeat}");
    assert_eq!(get(&format!("{}/healthz", relay.url)).status, 200);
    assert!(relay.is_running(), "the relay stays up on a full disk");

    // Space returns: the same order is accepted, without a restart. (When the repeat above was
    // accepted, the order is stored already, and counted in `accepted`: a hand-off of it now
    // would rightly answer 200.)
    std::fs::remove_file(&filler).expect("remove the filler");
    if repeat == 503 {
        wait_for(
            "the refused order accepted once space returns",
            DEADLINE,
            || {
                let status = hand_off(&relay, refused).status;
                assert!(status == 202 || status == 503, "answered {status}");
                (status == 202).then_some(())
            },
        );
    }
    for order_id in 8_100_501..=8_100_520 {
        assert_eq!(hand_off(&relay, order_id).status, 202);
    }

    sandbox.wait_delivered_to_both(accepted.borrow().iter().copied());
    assert!(relay.is_running(), "one process throughout");
    assert_eq!(sandbox.violations(), Vec::<String>::new());
    relay.assert_no_secret_in_logs();
    assert!(relay.terminate(), "a graceful exit after the full disk");
}
