//! `GET /` and `GET /assets/*`: the browser client (the files under `web/`), embedded in the
//! binary so that one executable serves the whole product and nothing is fetched from elsewhere.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and images from this
//! server only — images and media also from `blob:` URLs, which is how the page shows attachments
//! it fetched with its token —, connections to this server only, no inline code) and an `ETag`: the files are
//! not content-hashed, so browsers keep them but revalidate (`no-cache`), and an unchanged file
//! costs a `304`.
//!
//! Debug builds read each listed file from `web/` on disk at every request (falling back to the
//! embedded copy), so working on the client needs no rebuild; release builds only use the
//! embedded copies.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::LazyLock,
};

use poem::{
    handler,
    http::{header, HeaderValue, StatusCode},
    web::Path,
    Request, Response,
};

use crate::pkg::utils::errors::AppError;

/// One embedded file.
struct Asset {
    /// Its path under `web/`, which is also its path under `/assets/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// A strong validator: a hash of `body` (it changes when a new build changes the file).
    etag: String,
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        (
            $path,
            $content_type,
            include_bytes!(concat!("../../web/", $path)).as_slice(),
        )
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the client. A file missing here is a 404, however it is named.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        asset!("index.html", "text/html; charset=utf-8"),
        asset!("style.css", "text/css; charset=utf-8"),
        asset!("favicon.svg", "image/svg+xml"),
        asset!("sw.js", JS),
        asset!("js/main.js", JS),
        asset!("js/api.js", JS),
        asset!("js/socket.js", JS),
        asset!("js/store.js", JS),
        asset!("js/chat.js", JS),
        asset!("js/views/auth.js", JS),
        asset!("js/views/sidebar.js", JS),
        asset!("js/views/conversation.js", JS),
        asset!("js/views/dom.js", JS),
        asset!("js/views/message.js", JS),
        asset!("js/views/header.js", JS),
        asset!("js/views/search.js", JS),
        asset!("js/views/account.js", JS),
        asset!("js/attachments.js", JS),
        asset!("js/push.js", JS),
    ]
    .into_iter()
    .map(|(path, content_type, body)| Asset {
        path,
        content_type,
        body,
        etag: etag_of(body),
    })
    .collect()
});

fn etag_of(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// The page: `web/index.html`.
#[handler]
pub fn index(req: &Request) -> Result<Response, AppError> {
    serve(req, "index.html")
}

/// `GET /sw.js`: the service worker that shows push notifications. It is served from the root
/// because a service worker only controls pages under its own path.
#[handler]
pub fn service_worker(req: &Request) -> Result<Response, AppError> {
    serve(req, "sw.js")
}

/// A file the page loads: its script modules, style sheet and icon.
#[handler]
pub fn file(req: &Request, Path(path): Path<String>) -> Result<Response, AppError> {
    serve(req, &path)
}

/// The bytes to serve and their `ETag`: the embedded copy, or in debug builds the file on disk.
fn contents(asset: &Asset) -> (std::borrow::Cow<'static, [u8]>, String) {
    #[cfg(debug_assertions)]
    {
        let on_disk = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("web")
            .join(asset.path);
        if let Ok(body) = std::fs::read(on_disk) {
            let etag = etag_of(&body);
            return (std::borrow::Cow::Owned(body), etag);
        }
    }
    (std::borrow::Cow::Borrowed(asset.body), asset.etag.clone())
}

fn serve(req: &Request, path: &str) -> Result<Response, AppError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.path == path)
        .ok_or_else(|| AppError::NotFound("no such file".into()))?;
    let (body, etag) = contents(asset);
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let builder = Response::builder()
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, etag.as_str())
        .header(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(req),
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY");
    if unchanged {
        return Ok(builder.status(StatusCode::NOT_MODIFIED).body(()));
    }
    Ok(builder
        .content_type(asset.content_type)
        .body(body.into_owned()))
}

/// Nothing inline and nothing from elsewhere. `connect-src 'self'` covers `ws:`/`wss:` of this
/// origin in current browsers; older ones need the WebSocket origins spelled out, which takes the
/// `Host` the browser used (only when it is a plain `host[:port]`, so it cannot inject a directive).
fn content_security_policy(req: &Request) -> HeaderValue {
    let sockets = req
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|host| format!(" ws://{host} wss://{host}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
         media-src 'self' blob:; worker-src 'self'; manifest-src 'self'; \
         connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, fs, path::Path};

    use super::ASSETS;

    fn files_under(dir: &Path, root: &Path, found: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).expect("web/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                files_under(&path, root, found);
            } else {
                let relative = path.strip_prefix(root).expect("under web/");
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// A file added under `web/` but not to `ASSETS` would be a 404 in the browser.
    #[test]
    fn every_file_under_web_is_served() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = BTreeSet::new();
        files_under(&root, &root, &mut on_disk);
        let served: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        assert_eq!(served, on_disk);
    }
}
