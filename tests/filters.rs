//! Ad blockers must not stop the module: every file name a page loads from `pkg/` and `www/`,
//! and every request path the module calls, is checked against the EasyList / EasyPrivacy
//! generic rules kept in `tests/fixtures/filters/` (source, commit and licence in its
//! `SOURCE.md`) with a real filter engine (Brave's `adblock` crate), as the requests a shop's
//! confirmation page would make.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use adblock::lists::{FilterSet, ParseOptions};
use adblock::request::Request;
use adblock::Engine;

const SHOP_PAGE: &str = "https://shop.example/checkout/order-confirmation?order=1001";
const SHOP_ORIGIN: &str = "https://shop.example";
/// What a shop may serve the package under (its own static path) and proxy the relay on.
const ASSET_PREFIX: &str = "/assets/ordersync";
const RELAY_PREFIX: &str = "/ordersync";

/// Files the package always ships, checked even before `pkg/` is built.
const PACKAGE_FILES: [&str; 2] = ["ordersync.js", "ordersync_bg.wasm"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn engine() -> Engine {
    let dir = repo().join("tests/fixtures/filters");
    let mut set = FilterSet::new(true);
    let mut lists = 0;
    for name in ["easylist_general_block.txt", "easyprivacy_general.txt"] {
        let path = dir.join(name);
        let text: String = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("filter list {} unreadable: {e}", path.display()));
        assert!(
            text.lines().count() > 1000,
            "{} looks truncated",
            path.display()
        );
        set.add_filter_list(text, ParseOptions::default());
        lists += 1;
    }
    assert_eq!(lists, 2);
    Engine::new_with_filter_set(set)
}

fn blocked_by(engine: &Engine, url: &str, request_type: &str, method: &str) -> Option<String> {
    let request = Request::new(url, SHOP_PAGE, request_type, method)
        .unwrap_or_else(|e| panic!("{url}: {e:?}"));
    let result = engine.check_network_request(&request);
    result
        .should_block()
        .then(|| result.filter.map(|f| format!("{f:?}")).unwrap_or_default())
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn request_type_for(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("js" | "mjs") => "script",
        Some("css") => "stylesheet",
        Some("html") => "document",
        _ => "xmlhttprequest",
    }
}

#[test]
fn the_engine_blocks_what_it_should() {
    // Guards against a vacuous pass: known tracker-like URLs are blocked by these lists.
    let engine = engine();
    for url in [
        "https://shop.example/js/beacon.js",
        "https://shop.example/track/pixel.gif?id=1",
        "https://shop.example/analytics.js?v=1",
        "https://shop.example/assets/ordersync/beacon.js",
    ] {
        assert!(
            blocked_by(&engine, url, "script", "GET").is_some(),
            "{url} should be blocked"
        );
    }
}

#[test]
fn served_file_names_are_not_blocked() {
    let engine = engine();
    let mut names: Vec<(String, String)> = PACKAGE_FILES
        .iter()
        .map(|f| (format!("{ASSET_PREFIX}/{f}"), f.to_string()))
        .collect();
    for file in files_in(&repo().join("pkg")) {
        names.push((format!("{ASSET_PREFIX}/{file}"), file));
    }
    for file in files_in(&repo().join("www")) {
        names.push((format!("/{file}"), file));
    }
    assert!(names.len() >= PACKAGE_FILES.len());
    let blocked: Vec<String> = names
        .iter()
        .filter_map(|(path, file)| {
            let url = format!("{SHOP_ORIGIN}{path}");
            blocked_by(&engine, &url, request_type_for(file), "GET")
                .map(|rule| format!("{url}: {rule}"))
        })
        .collect();
    assert!(blocked.is_empty(), "blocked: {blocked:#?}");
}

#[test]
fn request_paths_the_module_calls_are_not_blocked() {
    let engine = engine();
    let third_o_query = "key=pk_live_abc&teaid=team-1&catid=cat-1&ordid=1001\
        &ordts=2026-11-22T10%3A00%3A00Z&sesid=sess-1&cusid=guid-1\
        &procods=0123456789012&pris=12.50&quas=2";
    let requests = [
        // The relay hand-off, first-party behind the shop's reverse proxy, and on its own host.
        (
            format!("{SHOP_ORIGIN}{RELAY_PREFIX}{}", ordersync::CHECKOUTS_PATH),
            "POST",
        ),
        (
            format!("https://relay.shop.example{}", ordersync::CHECKOUTS_PATH),
            "POST",
        ),
        // The CitrusAd front-end report, with a realistic query.
        (
            format!(
                "https://integration.citrusad.example{}?{third_o_query}",
                ordersync::THIRD_O_PATH
            ),
            "GET",
        ),
    ];
    for (url, method) in &requests {
        for request_type in ["fetch", "xmlhttprequest", "ping", "other"] {
            if let Some(rule) = blocked_by(&engine, url, request_type, method) {
                panic!("{url} ({request_type}) is blocked by {rule}");
            }
        }
    }
}
