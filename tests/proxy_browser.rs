//! A real browser (headless Chromium) through `edge run`: what only a
//! browser checks. It accepts a cookie only when edge's cookie rewrites make
//! it valid for the page's host and path, follows a redirect only when
//! `autoRewrite` pointed it back at edge, and opens a WebSocket through the
//! `ws` route from page script. The page writes what it saw into the DOM;
//! Chromium's `--dump-dom` prints it once its virtual-time budget ends;
//! the page keeps a fetch in flight until the WebSocket has answered,
//! because virtual time waits for fetches only.

mod common;
#[path = "common/proxy.rs"]
mod proxy_common;

use proxy_common::*;
use std::io::Write;
use std::process::Command;

/// The page edge serves from the upstream at `/app/`: three checks, each
/// written into `#out` as JSON when it ends.
const PAGE: &str = r#"<!doctype html><html><body><pre id="out">{}</pre><script>
const results = {};
function done(key, value) {
  results[key] = value;
  document.getElementById('out').textContent = JSON.stringify(results);
}
fetch('/app/api', {credentials: 'same-origin'})
  .then(r => r.text()).then(() => done('cookie', document.cookie))
  .catch(e => done('cookie', 'error ' + e));
fetch('/app/redirect')
  .then(r => r.text().then(t => done('redirect', r.url.replace(location.origin, '') + ' ' + t)))
  .catch(e => done('redirect', 'error ' + e));
const ws = new WebSocket('ws://' + location.host + '/app/ws');
ws.onopen = () => ws.send('ping from the page');
ws.onmessage = e => { done('ws', e.data); ws.close(); };
ws.onerror = () => done('ws', 'error');
// Chromium's virtual time stands still while a fetch is in flight, not
// while a WebSocket is: without a fetch pending, the budget can end (and
// the DOM be dumped) before the socket has answered. Keep one in flight
// until it has, bounded.
(async () => {
  for (let i = 0; i < 2000 && !('ws' in results); i++)
    await fetch('/app/hold').catch(() => {});
})();
</script></body></html>"#;

/// The Chromium binary, or why there is none.
fn chromium() -> Result<String, String> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Ok(name.to_owned());
        }
    }
    Err("no chromium on PATH (apt-get install chromium)".to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_gets_rewritten_cookies_redirects_and_a_websocket_through_edge() {
    let browser = match chromium() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but the browser test cannot run: {why}"
            );
            let _ = writeln!(std::io::stderr(), "\nSKIPPED: browser test: {why}");
            return;
        }
    };
    let (echo, _) = ws_echo_server().await;
    let up_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let up_addr = up_listener.local_addr().expect("addr");
    let _up = Upstream::on(
        up_listener,
        std::sync::Arc::new(move |seen: &Seen| match seen.uri.as_str() {
            "/app/" => with_headers(200, &[("content-type", "text/html")], PAGE),
            // Valid for the browser only after edge's rewrites: the
            // domain is not the page's and the path is not under /app.
            "/app/api" => with_headers(
                200,
                &[(
                    "set-cookie",
                    "sid=from-upstream; Domain=internal.test; Path=/backend",
                )],
                "api",
            ),
            // Points at the upstream itself; autoRewrite turns it back
            // towards edge.
            "/app/redirect" => with_headers(
                302,
                &[("location", &format!("http://{up_addr}/app/landing"))],
                "",
            ),
            "/app/landing" => text(200, "landed"),
            "/app/hold" => text(200, "holding"),
            _ => text(404, "no such page"),
        }),
    );
    let edge = Edge::start(&format!(
        "proxy {{\n listen: \"127.0.0.1:PORT\"\n routes = [\n  \
         {{ match {{ path: \"/app/ws\" }}, target: \"ws://{echo}\", ws: true }}\n  \
         {{ match {{ path: \"/app\" }}, target: \"http://{up_addr}\", autoRewrite: true,\n    \
         cookieDomainRewrite {{ \"internal.test\": \"\" }}, cookiePathRewrite {{ \"/backend\": \"/app\" }} }}\n ]\n}}\n"
    ));
    let profile = tempfile::tempdir().expect("profile dir");
    let url = edge.url("/app/");
    let dom = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=5000",
                "--timeout=15000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(url)
            .output()
    })
    .await
    .expect("join")
    .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(r#""cookie":"sid=from-upstream""#),
        "cookie not accepted: {dom}"
    );
    assert!(
        dom.contains(r#""redirect":"/app/landing landed""#),
        "redirect not followed through edge: {dom}"
    );
    assert!(
        dom.contains(r#""ws":"ping from the page""#),
        "websocket: {dom}"
    );
}
