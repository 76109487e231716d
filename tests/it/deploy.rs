//! The shipped nginx config, run by Debian's nginx with a self-signed certificate in front of the
//! service: a hook POST goes through over HTTPS, and the access log holds no query string.

use std::process::Command;

use crate::support::{fixture, spawn};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx in the foreground, stopped when dropped.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
#[cfg_attr(
    not(nginx),
    ignore = "nginx or openssl not installed (apt-get install nginx openssl; .ci/run does)"
)]
async fn the_shipped_nginx_config_proxies_https_and_logs_no_query() {
    let app = spawn("").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=hooks.example.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    // The shipped file, with this machine's ports and paths in place of the production ones.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/torrow-hooks.conf"),
    )
    .unwrap();
    let (http, https) = (free_port(), free_port());
    let log = d.join("access.log");
    let upstream = app.base.trim_start_matches("http://");
    let site = shipped
        .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
        .replace(
            "listen 443 ssl http2;",
            &format!("listen 127.0.0.1:{https} ssl http2;"),
        )
        .replace(
            "/etc/letsencrypt/live/hooks.example.com/fullchain.pem",
            &cert.display().to_string(),
        )
        .replace(
            "/etc/letsencrypt/live/hooks.example.com/privkey.pem",
            &key.display().to_string(),
        )
        .replace(
            "/var/log/nginx/torrow-hooks.access.log",
            &log.display().to_string(),
        )
        .replace("/var/www/letsencrypt", &d.display().to_string())
        .replace("127.0.0.1:8080", upstream);
    assert!(
        site.contains(&format!("127.0.0.1:{https} ssl http2")),
        "the listen line was found"
    );
    std::fs::write(d.join("site.conf"), &site).unwrap();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n access_log off;\n include {d}/site.conf;\n}}\n",
            d = d.display()
        ),
    )
    .unwrap();
    let check = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .arg("-t")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _nginx = Nginx(
        Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .spawn()
            .unwrap(),
    );

    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve(
            "hooks.example.com",
            format!("127.0.0.1:{https}").parse().unwrap(),
        )
        .build()
        .unwrap();
    let secret = "apiTokenSecretValue0123456789";
    let url =
        format!("https://hooks.example.com:{https}/webhook/log?message=Hi&sign_text={secret}");
    let mut answer = None;
    for _ in 0..100 {
        match client
            .post(&url)
            .body(fixture("booking-one-resource.json"))
            .send()
            .await
        {
            Ok(r) => {
                answer = Some(r);
                break;
            }
            // nginx is still starting.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    let answer = answer.expect("nginx answered");
    assert_eq!(answer.status().as_u16(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["Status"], "Success", "{body}");
    assert!(app.sink().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .contains(secret));
    // Plain HTTP is sent to HTTPS.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{http}/healthz?apiToken={secret}"))
        .header("host", "hooks.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 301);

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("\"POST /webhook/log\" 200"), "{logged}");
    assert!(
        !logged.contains(secret) && !logged.contains('?'),
        "{logged}"
    );

    // Phase 1 (before the certificate exists) is valid on its own too.
    let phase1 = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/nginx/torrow-hooks-http.conf"),
    )
    .unwrap()
    .replace("listen 80;", &format!("listen 127.0.0.1:{};", free_port()))
    .replace(
        "/var/log/nginx/torrow-hooks.access.log",
        &log.display().to_string(),
    )
    .replace("/var/www/letsencrypt", &d.display().to_string());
    std::fs::write(d.join("site.conf"), phase1).unwrap();
    let check = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .arg("-t")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "phase 1: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[tokio::test]
async fn test_mail_goes_through_smtp() {
    let (smtp, mut mails) = crate::support::smtp_listener().await;
    let app = spawn(&format!("[mail]\nsmtp_url = \"{smtp}\"\n")).await;
    let done = app
        .running
        .app
        .mailer
        .send_test("owner@example.com")
        .await
        .unwrap();
    assert!(
        done.to_string().contains("sent to owner@example.com"),
        "{done}"
    );
    let mail = crate::support::next_mail(&mut mails).await;
    assert_eq!(mail.to, ["owner@example.com"]);
    assert!(mail.data.contains("Test email"), "{}", mail.data);
    let refused = app
        .running
        .app
        .mailer
        .send_test("not an address")
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("not an address that can be mailed"),
        "{refused}"
    );
}
