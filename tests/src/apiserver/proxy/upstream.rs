//! The HTTP exchange with a proxy backend: the client's method, path, query, headers and body
//! go out; the backend's status, headers and body come back unchanged.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Headers that belong to one connection (RFC 9110 hop-by-hop), never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
];

pub struct Exchange<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// Path and query on the backend, e.g. `/healthz?verbose=1`.
    pub path_and_query: String,
    pub body: Bytes,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Vec<u8>,
}

/// Sends the exchange to `base` (`http://host:port`). The error is Go's dial error wording,
/// which kube-apiserver puts after `error trying to reach service: `.
pub async fn send(base: &Uri, exchange: Exchange<'_>) -> Result<Answer, String> {
    let authority = base.authority().ok_or("the backend URL has no host")?;
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let tcp = TcpStream::connect(&address).await.map_err(|err| {
        let reason = match err.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => err.to_string(),
        };
        format!("dial tcp {address}: connect: {reason}")
    })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|err| err.to_string())?;
    tokio::spawn(async move {
        // The connection ends with the exchange; its error, if any, surfaces on the request.
        let _ = connection.await;
    });
    let base_path = base.path().trim_end_matches('/');
    let mut request = Request::builder()
        .method(exchange.method.clone())
        .uri(format!("{base_path}{}", exchange.path_and_query))
        .header(header::HOST, authority.as_str());
    for (name, value) in exchange.headers {
        // kube-apiserver drops the caller's credentials after authenticating them.
        let dropped = name == header::AUTHORIZATION || name == header::HOST;
        if !dropped && !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let request = request
        .body(Full::new(exchange.body))
        .map_err(|err| err.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.clone(), value.to_str().ok()?.to_string())))
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes()
        .to_vec();
    Ok(Answer {
        status,
        headers,
        body,
    })
}
