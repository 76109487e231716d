//! Tells the tests which real parts this machine has, so that a test needing one that is missing
//! is reported as ignored, with the reason, instead of passing without running.
//! `cfg(chromium)`: Chromium and ChromeDriver (Debian's `chromium`, `chromium-driver`).
//! `cfg(sample_event)`: `TORROW_SAMPLE_EVENT` names the real Torrow sample (set by `.ci/run`).
//! `cfg(postgres)`: a PostgreSQL server (`/usr/lib/postgresql/<version>/bin/initdb`).
//! `cfg(systemd_analyze)`: `systemd-analyze` can check the shipped systemd unit.
//! `cfg(nginx)`: Debian's nginx and openssl, to run the shipped nginx config.
//! `cfg(root)`: the build (and so its tests) runs as root, which may mount a small tmpfs.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(chromium)");
    println!("cargo::rustc-check-cfg=cfg(sample_event)");
    println!("cargo::rustc-check-cfg=cfg(systemd_analyze)");
    println!("cargo::rustc-check-cfg=cfg(postgres)");
    println!("cargo::rustc-check-cfg=cfg(nginx)");
    println!("cargo::rustc-check-cfg=cfg(root)");
    println!("cargo::rerun-if-changed=/usr/sbin");
    // Installing a package changes /usr/bin; cargo then runs this again.
    println!("cargo::rerun-if-changed=/usr/bin");
    println!("cargo::rerun-if-env-changed=CHROMEDRIVER");
    println!("cargo::rerun-if-env-changed=CHROMIUM");
    println!("cargo::rerun-if-env-changed=TORROW_SAMPLE_EVENT");
    println!("cargo::rerun-if-changed=build.rs");
    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if Path::new(&driver).exists() && Path::new(&browser).exists() {
        println!("cargo::rustc-cfg=chromium");
    }
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .map(|versions| {
            versions
                .flatten()
                .any(|v| v.path().join("bin/initdb").exists())
        })
        .unwrap_or(false);
    if postgres {
        println!("cargo::rustc-cfg=postgres");
    }
    if Path::new("/usr/sbin/nginx").exists() && Path::new("/usr/bin/openssl").exists() {
        println!("cargo::rustc-cfg=nginx");
    }
    let uid = std::process::Command::new("id").arg("-u").output();
    if uid.is_ok_and(|o| o.stdout.trim_ascii() == b"0") {
        println!("cargo::rustc-cfg=root");
    }
    if Path::new("/usr/bin/systemd-analyze").exists() {
        println!("cargo::rustc-cfg=systemd_analyze");
    }
    if std::env::var_os("TORROW_SAMPLE_EVENT").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=sample_event");
    }
}
