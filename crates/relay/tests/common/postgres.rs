//! A throwaway PostgreSQL server for the tests: Debian's server binaries, a fresh cluster in a
//! temporary data directory, listening on 127.0.0.1 only (no Unix socket) on a free port.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the data directory is
//! handed to the `postgres` user and `initdb` / `pg_ctl` run through `runuser -u postgres`.
//! The cluster's superuser is `ordersync`, trusted on loopback (no password: nothing but this
//! machine can reach it, and it lives only for the test run).
//!
//! Stopping: a [`PgCluster`] stops its server and deletes its directory when dropped, which
//! also happens when a test panics. As a safety net for what `Drop` cannot cover (the shared
//! cluster kept in a static, or a test binary killed outright), each cluster also starts a
//! small detached reaper that stops the server once the test process is gone.
//!
//! When the PostgreSQL binaries are missing, every test that needs them FAILS with a message
//! saying how to install them; they are never silently skipped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The cluster's superuser (trusted on loopback).
pub const SUPERUSER: &str = "ordersync";

/// Where Debian puts the server binaries: `/usr/lib/postgresql/<major>/bin`, newest first.
/// `ORDERSYNC_PG_BIN` names another directory.
fn server_binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORDERSYNC_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin/initdb, \
             and ORDERSYNC_PG_BIN is not set). These tests need a real PostgreSQL server: run \
             `bash scripts/setup.sh all` (it installs Debian's `postgresql` packages), or \
             `apt-get install postgresql`."
        ),
    }
}

/// True when this process runs as root (then PostgreSQL must run as another user).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn id_of(flag: &str) -> u32 {
    let output = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("run `id`");
    assert!(
        output.status.success(),
        "there is no `postgres` user to run PostgreSQL as (PostgreSQL refuses to run as root): \
         Debian's `postgresql` package creates it; run `bash scripts/setup.sh all`"
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a numeric id")
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running PostgreSQL server with its own data directory.
pub struct PgCluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    stopped: bool,
}

impl PgCluster {
    /// Creates and starts a fresh cluster; panics with the reason when it cannot.
    pub fn start() -> PgCluster {
        let bin = server_binaries();
        let as_postgres = running_as_root();
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "ordersync-pg-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the cluster's directory");
        if as_postgres {
            std::os::unix::fs::chown(&root, Some(id_of("-u")), Some(id_of("-g")))
                .expect("hand the cluster's directory to the postgres user");
        }
        let mut cluster = PgCluster {
            root,
            bin,
            port: 0,
            as_postgres,
            stopped: false,
        };
        cluster.init();
        cluster.spawn_reaper();
        // A port found free can be taken before the server binds it: try a few.
        let mut last_error = String::new();
        for _ in 0..3 {
            cluster.port = free_port();
            match cluster.try_start() {
                Ok(()) => return cluster,
                Err(error) => last_error = error,
            }
        }
        panic!("PostgreSQL did not start: {last_error}");
    }

    /// One cluster for the whole test binary, started on first use. It outlives every test
    /// (statics are never dropped), so its reaper stops it when the test process ends.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A server program, run as the postgres user when we are root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn init(&self) {
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale"])
            // Test data need not survive a power cut; the relay's own durability settings
            // are not what these tests measure (the benchmarks run with fsync on).
            .arg("--no-sync")
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            describe(&output)
        );
        let settings = "\n# ordersync tests\n\
            listen_addresses = '127.0.0.1'\n\
            unix_socket_directories = ''\n\
            fsync = off\n\
            full_page_writes = off\n\
            max_connections = 200\n\
            shared_buffers = 32MB\n\
            log_min_messages = warning\n";
        let conf = self.data_dir().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str(settings);
        std::fs::write(&conf, text).expect("write postgresql.conf");
    }

    fn try_start(&self) -> Result<(), String> {
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-o", &format!("-p {}", self.port)])
            .args(["-w", "-t", "60", "start"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}\nserver log:\n{}",
                describe(&output),
                self.log()
            ))
        }
    }

    /// A detached shell that waits for this test process to end, then stops the server and
    /// deletes the directory. It is a new session (`setsid`), so a Ctrl-C or a kill of the
    /// test run does not take it down with it.
    fn spawn_reaper(&self) {
        let runuser = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {runuser}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; \
             rm -rf '{root}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data_dir().display(),
            root = self.root.display(),
        );
        // `-f`: setsid forks the reaper off and returns at once.
        let started = Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("start the cluster's reaper (setsid, sh)");
        assert!(started.success(), "setsid -f: {started}");
    }

    /// The URL of `database` on this server, as the relay takes it.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database, dropped again when the returned guard is.
    pub fn database(&self, name: &str) -> PgDatabase<'_> {
        self.client("createdb", name);
        PgDatabase {
            cluster: self,
            name: name.to_owned(),
        }
    }

    /// Runs `psql -c SQL` on `database`; returns its output (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {sql:?} failed: {}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn client(&self, program: &str, database: &str) {
        if let Err(problem) = self.try_client(program, database) {
            panic!("{problem}");
        }
    }

    fn try_client(&self, program: &str, database: &str) -> Result<(), String> {
        let extra: &[&str] = if program == "dropdb" {
            &["--force", "--if-exists"]
        } else {
            &[]
        };
        let output = Command::new(self.bin.join(program))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER])
            .args(extra)
            .arg(database)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {database} failed: {}",
                describe(&output)
            ))
        }
    }

    /// Stops the server (fast: no checkpoint) and deletes its directory.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// Stops the server but keeps its data (a database outage); [`PgCluster::resume`] starts
    /// it again on the same port.
    pub fn pause(&self) {
        let output = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "stop"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl stop");
        assert!(
            output.status.success(),
            "pg_ctl stop: {}",
            describe(&output)
        );
    }

    pub fn resume(&self) {
        if let Err(problem) = self.try_start() {
            panic!("PostgreSQL did not start again: {problem}");
        }
    }

    /// Waits until the server accepts connections (after a restart of something else).
    pub fn wait_ready(&self, deadline: Duration) {
        let start = Instant::now();
        while Command::new(self.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
            .status()
            .map_or(true, |s| !s.success())
        {
            assert!(start.elapsed() < deadline, "PostgreSQL is not ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A database on a [`PgCluster`], dropped (connections and all) with the guard.
pub struct PgDatabase<'a> {
    cluster: &'a PgCluster,
    name: String,
}

impl PgDatabase<'_> {
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn psql(&self, sql: &str) -> String {
        self.cluster.psql(&self.name, sql)
    }
}

impl Drop for PgDatabase<'_> {
    fn drop(&mut self) {
        // Never panics: this also runs while a failed test unwinds.
        if !self.cluster.stopped {
            if let Err(problem) = self.cluster.try_client("dropdb", &self.name) {
                eprintln!("could not drop the test database: {problem}");
            }
        }
    }
}
