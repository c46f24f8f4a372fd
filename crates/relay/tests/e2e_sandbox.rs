//! The sandbox as its own process: settings from the environment, a bad setting refused at
//! start naming it, and no credential ever printed to its log even at debug level.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::*;
use serde_json::json;

#[test]
fn settings_come_from_the_environment_and_secrets_stay_out_of_the_log() {
    let mut child = Command::new(BINARY)
        .args(["sandbox", "--listen", "127.0.0.1:0"])
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

    let faults = get(&format!("{url}/__sandbox/faults"));
    assert_eq!(faults.body["latencyMs"], 5);
    assert_eq!(faults.body["faultsOn"], "cibler");

    // base64(key:) accepted, the raw form refused, as ORDERSYNC_SANDBOX_CITRUS_AUTH says.
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{CITRUS_KEY}:"))
    };
    let ask = |authorization: &str| {
        agent()
            .get(&format!("{url}/v1/orders/unknown"))
            .header("authorization", authorization)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ask(&format!("Basic {encoded}")), 404);
    assert_eq!(ask(&format!("Basic {CITRUS_KEY}")), 401);
    let posted = post_json(&format!("{url}/v1/orders"), &json!({"orders": []}));
    assert_eq!(posted.status, 401);

    // Stopped gracefully, so the log thread writes the request lines still waiting in it.
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
        .args(["sandbox", "--listen", "127.0.0.1:0", "--error-rate", "0.7"])
        .args(["--drop-rate", "0.6"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the sandbox");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("add up to more than 1"), "{stderr}");
    let output = Command::new(BINARY)
        .args(["sandbox", "--listen", "127.0.0.1:0", "--drop-rate=-1"])
        .output()
        .expect("run the sandbox");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("drop-rate"));
}
