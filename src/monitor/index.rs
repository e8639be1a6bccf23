//! `/`: a page linking every endpoint, with the labels and relative links
//! (and their order) of nats-server 2.9.10's index page; edge's own markup.

/// The links, in nats-server's order: path and label.
pub const LINKS: [(&str, &str); 10] = [
    ("/varz", "General"),
    ("/jsz", "JetStream"),
    ("/connz", "Connections"),
    ("/accountz", "Accounts"),
    ("/accstatz", "Account Stats"),
    ("/subsz", "Subscriptions"),
    ("/routez", "Routes"),
    ("/leafz", "LeafNodes"),
    ("/gatewayz", "Gateways"),
    ("/healthz", "Health Probe"),
];

/// The page; links are `.` + the endpoint joined to `base` (as
/// nats-server's `basePath`), so they work behind the base path.
pub fn page(base: &str) -> String {
    let mut links = String::new();
    for (i, (path, label)) in LINKS.iter().enumerate() {
        let class = if i + 1 == LINKS.len() {
            " class=last"
        } else {
            ""
        };
        links.push_str(&format!(
            "\t<a href=.{}{class}>{label}</a>\n",
            super::join(base, path)
        ));
    }
    format!(
        "<html lang=\"en\">\n\t<head>\n\t<title>edge monitoring</title>\n\
         \t<style type=\"text/css\">\n\t\ta {{ display:block; margin-left: 7px; padding-bottom: 6px }}\n\
         \t\ta.last {{ padding-bottom: 16px }}\n\t</style>\n\t</head>\n\t<body>\n\
         \t<a href=https://github.com/nats-io/nats-server class='version'>v{}</a>\n\
         \t<br/>\n{links}\
         \t<a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring class=\"help\">Help</a>\n\
         \t</body>\n</html>",
        crate::nats::info::VERSION
    )
}
