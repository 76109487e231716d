//! What every test crate shares: the Wappi token used in hook URLs, the fixtures, and a Wappi
//! stand-in. (`tests/it`, `tests/process.rs` and `tests/metrics.rs` are separate crates.)
#![allow(dead_code)]

use std::path::PathBuf;

pub mod postgres;

use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

/// A Wappi token of the real shape (50 letters and digits).
pub const TOKEN: &str = "9410830193ce4ad56fe4df0378d1a0a8da13672248d94697b3";

/// The crate's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of `tests/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The bytes of `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Wappi stand-in that answers every POST with `answer`.
pub async fn wappi_answering(answer: ResponseTemplate) -> MockServer {
    let wappi = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&wappi)
        .await;
    wappi
}

/// The messages a Wappi stand-in took, as (recipient, text), oldest first: what its look-ups
/// list ([`mount_wappi_lookups`]).
#[derive(Clone, Default)]
pub struct WappiSent(pub std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl WappiSent {
    /// Records the send `request` carries (a profile's or a cascade's).
    pub fn record(&self, request: &wiremock::Request) {
        let body: serde_json::Value = request.body_json().unwrap_or_default();
        let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
        self.0
            .lock()
            .unwrap()
            .push((field("recipient"), field("body")));
    }

    pub fn texts(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }
}

/// Wappi's look-ups on a stand-in: every cascade is one WhatsApp profile, and a chat's messages
/// are what `sent` holds for its recipient, newest first (what the service asks before it sends
/// again a message whose send got no answer).
pub async fn mount_wappi_lookups(server: &MockServer, sent: WappiSent) {
    use wiremock::matchers::path;
    Mock::given(method("GET"))
        .and(path("/csender/cascade/get"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "status": "done",
            "cascade": {"name": "stand-in", "order": [{"platform": "wz", "profile_uuid": "p0"}]}
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/sync/messages/get"))
        .respond_with(move |request: &wiremock::Request| {
            let chat = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "chat_id")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let now = chrono::Utc::now().timestamp();
            let messages: Vec<serde_json::Value> = sent
                .0
                .lock()
                .unwrap()
                .iter()
                .rev()
                .filter(|(to, _)| *to == chat)
                .enumerate()
                .map(|(n, (_, text))| {
                    serde_json::json!({"id": format!("m{n}"), "fromMe": true, "type": "chat",
                                       "body": text, "time": now})
                })
                .collect();
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"status": "done", "messages": messages}))
        })
        .mount(server)
        .await;
}

/// A Wappi stand-in that takes every send (200, done), records it, and answers the look-ups
/// with what it took.
pub async fn wappi_taking() -> (MockServer, WappiSent) {
    let wappi = MockServer::start().await;
    let took = WappiSent::default();
    let ledger = took.clone();
    Mock::given(method("POST"))
        .respond_with(move |request: &wiremock::Request| {
            ledger.record(request);
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "done"}))
        })
        .mount(&wappi)
        .await;
    mount_wappi_lookups(&wappi, took.clone()).await;
    (wappi, took)
}

/// A small file system of our own, so that it can be filled (root only: the tests that use it
/// are ignored elsewhere, with the reason, `cfg(root)` from build.rs).
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs failed: {status}");
        SmallDisk { dir }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full; returns its path.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&[0u8; 512]);
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
