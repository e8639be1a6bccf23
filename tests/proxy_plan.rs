//! `proxy` blocks from config text to plan: every option, defaults
//! merging, the router's decisions and every validation error, through the
//! public API (`parse_str` then `lower`).

use edge::config::lower::lower;
use edge::config::parse::parse_str;
use edge::plan::proxy::{
    Balance, HealthCheck, HostPattern, ProtocolRewrite, ProxyOptions, Rewrite, Scheme, Target,
};
use edge::plan::{Plan, ProxyPlan};
use std::path::Path;
use std::time::Duration;

/// Lowers config text; `Err` is the rendered diagnostics.
fn lower_text(text: &str) -> Result<Plan, String> {
    let tree = parse_str("proxy.conf", text, &|_| None).map_err(|d| d.to_string())?;
    lower(&tree).map_err(|d| d.to_string())
}

fn plan(text: &str) -> Vec<ProxyPlan> {
    match lower_text(text) {
        Ok(p) => p.proxies,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errors(text: &str) -> String {
    match lower_text(text) {
        Ok(p) => panic!("expected errors, got a plan: {:#?}", p.proxies),
        Err(e) => e,
    }
}

/// A directory with a server certificate, its key, and a CA file.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("not-pem.txt"), "hello").unwrap();
        Certs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces `TMP` in config text with the directory.
    fn config(&self, text: &str) -> String {
        text.replace("TMP", &self.path().display().to_string())
    }

    /// Replaces the directory with `TMP` in output, for stable snapshots.
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.path().display().to_string(), "TMP")
    }
}

const FULL: &str = r#"
proxy {
  listen: "127.0.0.1:8443"
  workers: 2
  ssl { cert_file: "TMP/cert.pem", key_file: "TMP/key.pem" }
  target: "http://127.0.0.1:9000"
  stripPrefix: true
  xfwd: true
  secure: false
  caFile: "TMP/ca.pem"
  toProxy: true
  prependPath: false
  ignorePath: true
  localAddress: "127.0.0.1"
  changeOrigin: true
  preserveHeaderKeyCase: true
  auth: "admin:pa:ss"
  hostRewrite: "public.example.com:8443"
  autoRewrite: true
  protocolRewrite: "https:"
  cookieDomainRewrite: "example.com"
  cookiePathRewrite: { "/old": "/new", "*": "" }
  headers { X-Edge: "1", x-env: "prod" }
  proxyTimeout: "30s"
  timeout: "2m"
  followRedirects: true
  agent { keepAlive: true, maxIdlePerHost: 8, idleTimeout: "45s" }
  forward: { protocol: "http:", hostname: "mirror.internal", port: 9100, path: "/copy" }
  requestHeaders { set { X-From: "edge" }, remove: ["Cookie"] }
  responseHeaders { set { Server: "edge" }, remove: ["X-Powered-By"] }
  errorPage { status: 503, contentType: "text/html", body: "<h1>down</h1>" }
  eventsSubject: "edge.proxy.events"
  healthCheck { path: "/healthz", interval: "5s", timeout: "1s", unhealthyThreshold: 3, healthyThreshold: 2 }
  routes = [
    { match { host: "API.Example.com", path: "/v1/" }
      target: "wss://backend.internal:9443/base?x=1"
      strip_prefix: false
      ws: true
      xfwd: false
      secure: true
      ca_file: "TMP/ca.pem"
      to_proxy: false
      prepend_path: true
      ignore_path: false
      local_address: "::1"
      change_origin: false
      preserve_header_key_case: false
      auth: "bob:hunter2"
      host_rewrite: "other.example.com"
      auto_rewrite: false
      protocol_rewrite: http
      cookie_domain_rewrite: false
      cookie_path_rewrite: "/"
      headers { X-ENV: "staging", X-Route: 1 }
      proxy_timeout: "500ms"
      timeout: "1h30m"
      follow_redirects: false
      agent: false
      forward: "https://audit.internal:8443/in"
      request_headers { set { Cookie: "a=b" } }
      response_headers { remove: ["server"] }
      error_page { status: 502, content_type: "application/json", body: "{}" }
      events_subject: "edge.api"
      health_check: false
    }
    { match { host: "*.example.com" }
      targets: ["http://10.0.0.1", { protocol: https, host: "10.0.0.2", port: 8443 }]
      balance: least_conn
      health_check { path: "/ready", interval: "2s" }
    }
  ]
}
"#;

#[test]
fn full_plan_with_every_option() {
    let certs = Certs::new();
    let proxies = plan(&certs.config(FULL));
    assert_eq!(proxies.len(), 1);
    let p = &proxies[0];
    assert!(p.tls.is_some());
    assert_eq!(p.workers, 2);
    // The route that overrides everything gets none of the block's values.
    let api = &p.routes[0].options;
    assert!(api.ws && !api.xfwd && api.secure && api.prepend_path && !api.change_origin);
    assert_eq!(api.protocol_rewrite, Some(ProtocolRewrite::Http));
    assert_eq!(api.cookie_domain_rewrite, Rewrite::Off);
    assert!(!api.agent.keep_alive);
    // Secrets never reach Debug output.
    let debug = format!("{proxies:#?}");
    assert!(!debug.contains("hunter2") && !debug.contains("pa:ss"));
    insta::assert_snapshot!("full_plan", certs.scrub(&debug));
}

#[test]
fn full_plan_summary() {
    let certs = Certs::new();
    let proxies = plan(&certs.config(FULL));
    let lines = certs.scrub(&proxies[0].summary_lines().join("\n"));
    assert!(!lines.contains("hunter2") && !lines.contains("pa:ss"));
    assert!(lines.contains("auth=<set>"));
    insta::assert_snapshot!("full_plan_summary", lines);
}

/// Every option, as (snake_case, camelCase, a non-default value).
const SPELLINGS: &[(&str, &str, &str)] = &[
    ("strip_prefix", "stripPrefix", "true"),
    ("health_check", "healthCheck", "{ unhealthy_threshold: 5 }"),
    ("ca_file", "caFile", "\"TMP/ca.pem\""),
    ("to_proxy", "toProxy", "true"),
    ("prepend_path", "prependPath", "false"),
    ("ignore_path", "ignorePath", "true"),
    ("local_address", "localAddress", "\"10.1.2.3\""),
    ("change_origin", "changeOrigin", "true"),
    ("preserve_header_key_case", "preserveHeaderKeyCase", "true"),
    ("host_rewrite", "hostRewrite", "\"h.example\""),
    ("auto_rewrite", "autoRewrite", "true"),
    ("protocol_rewrite", "protocolRewrite", "https"),
    (
        "cookie_domain_rewrite",
        "cookieDomainRewrite",
        "\"d.example\"",
    ),
    ("cookie_path_rewrite", "cookiePathRewrite", "\"/p\""),
    ("proxy_timeout", "proxyTimeout", "\"3s\""),
    ("follow_redirects", "followRedirects", "true"),
    ("request_headers", "requestHeaders", "{ remove: [\"a\"] }"),
    (
        "response_headers",
        "responseHeaders",
        "{ set { B: \"b\" } }",
    ),
    ("error_page", "errorPage", "{ status: 500 }"),
    ("events_subject", "eventsSubject", "\"ev\""),
];

#[test]
fn snake_and_camel_spellings_mean_the_same() {
    let certs = Certs::new();
    let base = plan("proxy { listen: 1, target: \"http://u\" }");
    for (snake, camel, value) in SPELLINGS {
        let text = |key: &str| {
            certs.config(&format!(
                "proxy {{ listen: 1, target: \"http://u\", {key}: {value} }}"
            ))
        };
        let a = plan(&text(snake));
        let b = plan(&text(camel));
        let lower = plan(&text(&camel.to_ascii_lowercase()));
        assert_eq!(a, b, "{snake} and {camel} differ");
        assert_eq!(a, lower, "{camel} is not case-insensitive");
        assert_ne!(a, base, "{snake}: {value} changed nothing");
    }
    // Nested keys too; `ssl` is `tls`.
    let agent = |k: &str, m: &str, i: &str| {
        plan(&format!(
            "proxy {{ listen: 1, target: \"http://u\", agent {{ {k}: false, {m}: 1, {i}: \"1s\" }} }}"
        ))
    };
    assert_eq!(
        agent("keep_alive", "max_idle_per_host", "idle_timeout"),
        agent("keepAlive", "maxIdlePerHost", "idleTimeout")
    );
    let listener = |key: &str| {
        plan(&certs.config(&format!(
            "proxy {{ listen: 1, target: \"http://u\", {key} {{ cert_file: \"TMP/cert.pem\", key_file: \"TMP/key.pem\" }} }}"
        )))
    };
    assert_eq!(listener("ssl"), listener("tls"));
    assert!(listener("SSL")[0].tls.is_some());
}

const MERGE: &str = r#"
proxy {
  listen: 8080
  xfwd: true
  ws: true
  proxy_timeout: "10s"
  headers { X-Env: "prod", X-Team: "core" }
  request_headers { set { X-A: "block", X-B: "block" }, remove: ["X-Gone", "X-Back"] }
  response_headers { set { Server: "edge" } }
  error_page { status: 503, body: "block" }
  cookie_path_rewrite: { "/a": "/b" }
  routes = [
    { match { path: "/override" }
      target: "http://10.0.0.1:81"
      ws: false
      proxy_timeout: "1s"
      headers { x-team: "web", X-Extra: "1" }
      request_headers { set { X-Back: "route" }, remove: ["x-b"] }
      error_page { body: "route" }
      cookie_path_rewrite: { "/c": "/d" }
    }
    { match { path: "/inherit" }, target: "http://10.0.0.2:82" }
  ]
}
"#;

#[test]
fn block_options_are_route_defaults_and_maps_merge() {
    let proxies = plan(MERGE);
    let routes = &proxies[0].routes;
    let (over, inherit) = (&routes[0].options, &routes[1].options);

    // Scalars: the route replaces, or inherits.
    assert!(over.xfwd && !over.ws && inherit.ws && inherit.xfwd);
    assert_eq!(over.proxy_timeout, Some(Duration::from_secs(1)));
    assert_eq!(inherit.proxy_timeout, Some(Duration::from_secs(10)));
    // `headers` merge per case-insensitive name, the route winning in place.
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(pairs(&over.headers), "X-Env=prod x-team=web X-Extra=1");
    assert_eq!(pairs(&inherit.headers), "X-Env=prod X-Team=core");
    // request_headers: the route's decision per name wins, set or remove.
    assert_eq!(pairs(&over.request_headers.set), "X-A=block X-Back=route");
    assert_eq!(over.request_headers.remove, vec!["X-Gone", "x-b"]);
    assert_eq!(over.response_headers, inherit.response_headers);
    // Other options (error_page, cookie rewrites) replace whole.
    let page = over.error_page.as_ref().unwrap();
    assert_eq!((page.status, page.body.as_str()), (None, "route"));
    assert_eq!(
        over.cookie_path_rewrite,
        Rewrite::Map(vec![("/c".into(), "/d".into())])
    );

    insta::assert_debug_snapshot!("merged_options", (over, inherit));
}

#[test]
fn defaults_of_an_empty_route() {
    let proxies = plan("proxy { listen: 8080, routes = [ { target: \"https://up\" } ] }");
    let p = &proxies[0];
    assert_eq!(p.listen.to_string(), "0.0.0.0:8080");
    let r = &p.routes[0];
    assert_eq!((&r.host, r.path.as_str()), (&HostPattern::Any, "/"));
    assert_eq!(r.balance, Balance::RoundRobin);
    assert_eq!(r.health_check, None);
    assert_eq!(r.options, ProxyOptions::default());
    assert_eq!(
        r.targets,
        vec![Target {
            scheme: Scheme::Https,
            host: "up".into(),
            port: 443,
            path: "/".into()
        }]
    );
    let d = ProxyOptions::default();
    assert!(d.secure && d.prepend_path && d.agent.keep_alive && !d.ws);
    let h = plan("proxy { listen: 1, target: \"ws://u\", health_check: true }");
    let h = h[0].routes[0].health_check.clone().unwrap();
    assert_eq!(h, HealthCheck::default());
    assert_eq!(
        (h.path.as_str(), h.unhealthy_threshold, h.healthy_threshold),
        ("/", 2, 1)
    );
}

#[test]
fn accepted_shapes() {
    // A block with a target and no routes is one catch-all route.
    let p = plan("proxy { listen: 1, target: \"http://u:81/base\" }");
    assert_eq!(p[0].routes.len(), 1);
    assert_eq!(
        p[0].route(Some("any"), "/x").unwrap().targets[0].path,
        "/base"
    );
    // A list of blocks; `match {}` means everything; ws route with http target;
    // a forward-only route (node-http-proxy answers it with an empty 200).
    let p = plan(
        r#"proxy = [
          { listen: 1, routes = [ { match {}, target: "http://a", ws: true } ] }
          { listen: "127.0.0.1:2", routes = [ { forward: "http://copy" } ] }
          { listen: 3, target: "http://a" }
        ]"#,
    );
    assert!(p[0].routes[0].options.ws);
    assert_eq!(p[0].routes[0].targets[0].scheme, Scheme::Http);
    assert!(p[1].routes[0].targets.is_empty());
    assert_eq!(
        p[1].routes[0].options.forward.as_ref().unwrap().host,
        "copy"
    );
    // Listeners on different hosts, or on port 0 (a free port), do not clash.
    let p = plan(
        r#"proxy = [
          { listen: "127.0.0.1:80", target: "http://a" }
          { listen: "127.0.0.2:80", target: "http://a" }
          { listen: 0, target: "http://a" }
          { listen: 0, target: "http://a" }
        ]"#,
    );
    assert_eq!(p.len(), 4);
}

const ROUTER: &str = r#"
proxy {
  listen: 8080
  routes = [
    { match { path: "/" },                                  target: "http://fallback" }
    { match { path: "/api" },                               target: "http://any-api" }
    { match { host: "api.example.com", path: "/v1" },       target: "http://v1" }
    { match { host: "API.EXAMPLE.COM", path: "/v1/admin/" }, target: "http://admin" }
    { match { host: "*.example.com" },                      target: "http://wild" }
    { match { host: "*.eu.example.com", path: "/shop" },    target: "http://eu-shop" }
    { match { host: "static.example.com", path: "/assets" }, target: "http://assets" }
    { match { host: "[::1]", path: "/six" },                target: "http://six" }
  ]
}
"#;

#[test]
fn router_decisions() {
    let proxies = plan(ROUTER);
    let p = &proxies[0];
    let cases: &[(Option<&str>, &str)] = &[
        (Some("api.example.com"), "/v1"),
        (Some("api.example.com"), "/v1/"),
        (Some("api.example.com"), "/v1/users?id=3"),
        (Some("api.example.com"), "/v1?x"),
        (Some("api.example.com"), "/v1x"),
        (Some("Api.Example.Com:8443"), "/v1/admin"),
        (Some("api.example.com"), "/v1/admin/x"),
        (Some("api.example.com"), "/v1/administrator"),
        (Some("api.example.com"), "/api/x"),
        (Some("static.example.com"), "/assets/app.js"),
        (Some("static.example.com"), "/other"),
        (Some("www.example.com"), "/api"),
        (Some("a.b.c.example.com"), "/"),
        (Some("x.eu.example.com"), "/shop/cart"),
        (Some("x.eu.example.com"), "/shopping"),
        (Some("eu.example.com"), "/shop"),
        (Some("example.com"), "/api/v2"),
        (Some("example.com"), "/apix"),
        (Some("example.com."), "/"),
        (Some("[::1]:8080"), "/six/x"),
        (Some("[::1]"), "/sixty"),
        (None, "/api"),
        (None, "/"),
    ];
    let mut table = String::new();
    for (host, path) in cases {
        let upstream = p
            .route(*host, path)
            .map_or("404".to_owned(), |r| r.targets[0].host.clone());
        table.push_str(&format!(
            "{:<24} {:<22} -> {upstream}\n",
            host.unwrap_or("(none)"),
            path
        ));
    }
    insta::assert_snapshot!("router_decisions", table);

    // No catch-all: unmatched requests get no route (404).
    let p = plan(
        r#"proxy { listen: 1, routes = [ { match { host: "a.test", path: "/x" }, target: "http://a" } ] }"#,
    );
    assert!(p[0].route(Some("a.test"), "/y").is_none());
    assert!(p[0].route(Some("b.test"), "/x").is_none());
    assert!(p[0].route(None, "/x").is_none());
    assert!(p[0].route(Some("a.test:99"), "/x/1").is_some());
}

/// Renders each case's diagnostics under a heading, checking each failed.
fn error_report(cases: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, text) in cases {
        out.push_str(&format!("=== {name}\n{}\n", errors(text)));
    }
    out
}

#[test]
fn structure_errors() {
    let report = error_report(&[
        ("missing listen", "proxy {\n  target: \"http://a\"\n}"),
        (
            "no routes and no target",
            "proxy {\n  listen: 8080\n}",
        ),
        ("empty routes", "proxy {\n  listen: 8080\n  routes = []\n}"),
        (
            "route without target",
            "proxy {\n  listen: 8080\n  routes = [\n    { match { path: \"/a\" } }\n  ]\n}",
        ),
        (
            "route with target and targets",
            "proxy {\n  listen: 8080\n  routes = [\n    { target: \"http://a\", targets: [\"http://b\"] }\n  ]\n}",
        ),
        (
            "empty targets",
            "proxy {\n  listen: 8080\n  targets: []\n}",
        ),
        (
            "duplicate listen",
            "proxy = [\n  { listen: 8080, target: \"http://a\" }\n  { listen: \"0.0.0.0:8080\", target: \"http://b\" }\n  { listen: \"127.0.0.1:8080\", target: \"http://c\" }\n]",
        ),
        (
            "duplicate route match",
            "proxy {\n  listen: 8080\n  routes = [\n    { match { host: \"a.example.com\", path: \"/api\" }, target: \"http://a\" }\n    { match { host: \"A.example.com\", path: \"/api/\" }, target: \"http://b\" }\n    { target: \"http://c\" }\n    { match { path: \"/\" }, target: \"http://d\" }\n  ]\n}",
        ),
        (
            "forward-only route with a health check",
            "proxy {\n  listen: 8080\n  routes = [\n    { forward: \"http://copy\", health_check { path: \"/h\" } }\n  ]\n}",
        ),
        (
            "unknown keys with suggestions",
            "proxy {\n  listen: 8080\n  tragets: [\"http://a\"]\n  routes = [\n    { match { hots: \"a\" }, target: \"http://a\", chngeOrigin: true,\n      agent { keep_alvie: false }, health_check { intervall: \"1s\" } }\n  ]\n}",
        ),
        (
            "the same option under two spellings",
            "proxy {\n  listen: 8080\n  target: \"http://a\"\n  change_origin: true\n  changeOrigin: false\n}",
        ),
        (
            "proxy is not a block",
            "proxy: \"http://a\"",
        ),
    ]);
    insta::assert_snapshot!("structure_errors", report);
}

#[test]
fn target_errors() {
    let report = error_report(&[
        (
            "no scheme",
            "proxy { listen: 1\n  target: \"127.0.0.1:9000\" }",
        ),
        (
            "unsupported scheme",
            "proxy { listen: 1\n  target: \"ftp://files\" }",
        ),
        ("bad url", "proxy { listen: 1\n  target: \"http://[::1\" }"),
        (
            "credentials in url",
            "proxy { listen: 1\n  target: \"http://bob:pw@a\" }",
        ),
        ("fragment", "proxy { listen: 1\n  target: \"http://a/#x\" }"),
        ("port 0", "proxy { listen: 1\n  target: \"http://a:0\" }"),
        (
            "object without host, bad protocol",
            "proxy { listen: 1\n  target: { protocol: \"gopher\", port: 70 } }",
        ),
        (
            "object with port in host and a bad port",
            "proxy { listen: 1\n  target: { host: \"a:80\", port: 99999, path: \"x\" } }",
        ),
        (
            "one bad entry in targets",
            "proxy { listen: 1\n  targets: [\"http://a\", \"mailto:x\"] }",
        ),
        (
            "bad forward",
            "proxy { listen: 1\n  routes = [ { forward: \"nope\" } ] }",
        ),
    ]);
    insta::assert_snapshot!("target_errors", report);
}

#[test]
fn match_and_balancing_errors() {
    let report = error_report(&[
        (
            "host with a port",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { host: \"a.example.com:8080\" } } ] }",
        ),
        (
            "star host",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { host: \"*\" } } ] }",
        ),
        (
            "star inside a host",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { host: \"a.*.com\" } } ] }",
        ),
        (
            "bad host name",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { host: \"a b.com\" } } ] }",
        ),
        (
            "relative path",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { path: \"api\" } } ] }",
        ),
        (
            "glob path",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { path: \"/api/*\" } } ] }",
        ),
        (
            "path with a query",
            "proxy { listen: 1, target: \"http://a\"\n  routes = [ { match { path: \"/a?b\" } } ] }",
        ),
        ("unknown balance", "proxy { listen: 1, target: \"http://a\"\n  balance: fastest }"),
        (
            "zero thresholds",
            "proxy { listen: 1, target: \"http://a\"\n  health_check {\n    unhealthy_threshold: 0\n    healthy_threshold: 0\n  } }",
        ),
        (
            "health check path",
            "proxy { listen: 1, target: \"http://a\"\n  health_check { path: \"healthz\" } }",
        ),
    ]);
    insta::assert_snapshot!("match_and_balancing_errors", report);
}

#[test]
fn option_errors() {
    let certs = Certs::new();
    let report = error_report(&[
        ("bare proxy_timeout", "proxy { listen: 1, target: \"http://a\"\n  proxyTimeout: 5000 }"),
        ("bare timeout", "proxy { listen: 1, target: \"http://a\"\n  timeout: 30 }"),
        (
            "bare agent idle_timeout",
            "proxy { listen: 1, target: \"http://a\"\n  agent { idle_timeout: 90 } }",
        ),
        (
            "bare health check durations",
            "proxy { listen: 1, target: \"http://a\"\n  health_check { interval: 5, timeout: 1 } }",
        ),
        ("zero duration", "proxy { listen: 1, target: \"http://a\"\n  proxy_timeout: \"0s\" }"),
        ("bad duration", "proxy { listen: 1, target: \"http://a\"\n  timeout: \"5 minutes\" }"),
        ("protocol_rewrite", "proxy { listen: 1, target: \"http://a\"\n  protocolRewrite: \"ftp\" }"),
        ("auth without colon", "proxy { listen: 1, target: \"http://a\"\n  auth: \"justatoken\" }"),
        ("local_address", "proxy { listen: 1, target: \"http://a\"\n  local_address: \"eth0\" }"),
        (
            "ca_file missing",
            "proxy { listen: 1, target: \"https://a\"\n  ca_file: \"/nonexistent/ca.pem\" }",
        ),
        ("host_rewrite", "proxy { listen: 1, target: \"http://a\"\n  host_rewrite: \"http://x/\" }"),
        (
            "cookie rewrite true",
            "proxy { listen: 1, target: \"http://a\"\n  cookie_domain_rewrite: true }",
        ),
        (
            "cookie rewrite with ;",
            "proxy { listen: 1, target: \"http://a\"\n  cookie_path_rewrite: { \"*\": \"/; Secure\" } }",
        ),
        (
            "header name with a space",
            "proxy { listen: 1, target: \"http://a\"\n  headers { \"X Bad\": \"1\" } }",
        ),
        (
            "header value with a line break",
            "proxy { listen: 1, target: \"http://a\"\n  headers { X-Ok: \"a\\r\\nInjected: 1\" } }",
        ),
        (
            "header set twice in two cases",
            "proxy { listen: 1, target: \"http://a\"\n  headers { X-A: \"1\", x-a: \"2\" } }",
        ),
        (
            "header both set and removed",
            "proxy { listen: 1, target: \"http://a\"\n  request_headers {\n    set { X-A: \"1\" }\n    remove: [\"X-B\", \"x-a\"]\n  } }",
        ),
        (
            "bad header name in remove",
            "proxy { listen: 1, target: \"http://a\"\n  response_headers { remove: [\"ok\", \"bad name\"] } }",
        ),
        (
            "error_page status",
            "proxy { listen: 1, target: \"http://a\"\n  error_page { status: 200 } }",
        ),
        (
            "events_subject wildcard",
            "proxy { listen: 1, target: \"http://a\"\n  events_subject: \"edge.*.events\" }",
        ),
        (
            "events_subject empty token",
            "proxy { listen: 1, target: \"http://a\"\n  events_subject: \"edge..events\" }",
        ),
        (
            "max_idle_per_host",
            "proxy { listen: 1, target: \"http://a\"\n  agent { max_idle_per_host: -1 } }",
        ),
        (
            "listener tls without key",
            &certs.config("proxy { listen: 1, target: \"http://a\"\n  tls { cert_file: \"TMP/cert.pem\" } }"),
        ),
        (
            "ca_file that is not PEM",
            &certs.config("proxy { listen: 1, target: \"http://a\"\n  ca_file: \"TMP/not-pem.txt\" }"),
        ),
    ]);
    insta::assert_snapshot!("option_errors", certs.scrub(&report));
}

#[test]
fn errors_do_not_print_the_auth_password() {
    let e = errors("proxy { listen: 1, target: \"http://a\", auth: \"nocolon\", authh: 1 }");
    // The source line is shown, but no message repeats the value.
    let messages: Vec<&str> = e.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(messages.len(), 2, "{e}");
    assert!(messages.iter().all(|m| !m.contains("nocolon")), "{e}");
}
