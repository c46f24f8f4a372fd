//! `ordersync-sandbox` as its own process: settings from the environment, a bad setting
//! refused at start naming it, and no credential ever printed to its log even at debug level.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_ordersync-sandbox");
const CITRUS_KEY: &str = "citrus-secret-key-e2e-5150";
const DEADLINE: Duration = Duration::from_secs(60);

/// A status code, whatever it is (ureq's default turns 4xx into errors).
fn status_of(request: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    request.expect("an answer").status().as_u16()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// SIGTERM, then the exit status (a graceful exit writes every log line).
fn stop_gracefully(child: &mut Child) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -TERM");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the sandbox exits after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn settings_come_from_the_environment_and_secrets_stay_out_of_the_log() {
    let mut child = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .env("ORDERSYNC_SANDBOX_CITRUS_API_KEY", CITRUS_KEY)
        .env("ORDERSYNC_SANDBOX_CITRUS_AUTH", "base64")
        .env("ORDERSYNC_SANDBOX_LATENCY_MS", "5")
        .env("ORDERSYNC_SANDBOX_FAULTS_ON", "cibler")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the sandbox");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = tx.send(url.to_owned());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = rx
        .recv_timeout(DEADLINE)
        .expect("the sandbox announces its address");

    let faults = agent()
        .get(&format!("{url}/__sandbox/faults"))
        .call()
        .expect("the fault settings")
        .body_mut()
        .read_to_string()
        .expect("a body");
    let faults: serde_json::Value = serde_json::from_str(&faults).expect("JSON");
    assert_eq!(faults["latencyMs"], 5);
    assert_eq!(faults["faultsOn"], "cibler");

    // base64(key:) accepted, the raw form refused, as ORDERSYNC_SANDBOX_CITRUS_AUTH says.
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{CITRUS_KEY}:"))
    };
    let ask = |authorization: &str| {
        status_of(
            agent()
                .get(&format!("{url}/v1/orders/unknown"))
                .header("authorization", authorization)
                .call(),
        )
    };
    assert_eq!(ask(&format!("Basic {encoded}")), 404);
    assert_eq!(ask(&format!("Basic {CITRUS_KEY}")), 401);
    let posted = agent()
        .post(&format!("{url}/v1/orders"))
        .header("content-type", "application/json")
        .send(r#"{"orders": []}"#);
    assert_eq!(status_of(posted), 401);

    // Stopped gracefully: the log ends whole.
    assert!(stop_gracefully(&mut child).success(), "the sandbox exits 0");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let stdout = reader.join().unwrap();
    for log in [&stdout, &stderr] {
        assert!(!log.contains(CITRUS_KEY), "the key was printed:\n{log}");
        assert!(
            !log.contains(&encoded),
            "the encoded key was printed:\n{log}"
        );
    }
    let log = format!("{stdout}{stderr}");
    assert!(log.contains("/v1/orders"), "requests are logged:\n{log}");
}

#[test]
fn impossible_fault_settings_are_refused_at_start_naming_the_flag() {
    let output = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--error-rate", "0.7"])
        .args(["--drop-rate", "0.6"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the sandbox");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("add up to more than 1"), "{stderr}");
    let output = Command::new(BINARY)
        .args(["--listen", "127.0.0.1:0", "--drop-rate=-1"])
        .output()
        .expect("run the sandbox");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("drop-rate"));
}
