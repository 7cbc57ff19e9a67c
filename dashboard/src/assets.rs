//! Static assets compiled into the binary (office networks block CDNs and web fonts).

/// `(content type, bytes)` of an embedded asset by file name.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "style.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/style.css"),
        ),
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        ),
        "favicon.svg" => ("image/svg+xml", include_bytes!("../assets/favicon.svg")),
        _ => return None,
    })
}
