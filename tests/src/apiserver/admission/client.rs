//! The HTTPS call to one webhook, with kube-apiserver's (Go's) error wording for the failures
//! tests provoke: connection refused, deadline exceeded, untrusted certificate.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Uri, header};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Webhook answers larger than this are refused (kube-apiserver caps them too).
const MAX_RESPONSE_BYTES: usize = 3 * 1024 * 1024;

/// POSTs `body` to `url?timeout=<N>s` and returns the response body. The error is the text
/// after `failed to call webhook: `.
pub async fn post_review(
    url: &str,
    ca_bundle_base64: Option<&str>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let target = format!("{url}?timeout={}s", timeout.as_secs());
    let post = format!("Post \"{target}\"");
    match tokio::time::timeout(timeout, send(&target, ca_bundle_base64, body)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(detail)) => Err(format!("{post}: {detail}")),
        Err(_) => Err(format!("{post}: context deadline exceeded")),
    }
}

async fn send(
    target: &str,
    ca_bundle_base64: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let uri: Uri = target
        .parse()
        .map_err(|err| format!("invalid URL: {err}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!(
            "unsupported protocol scheme \"{}\"",
            uri.scheme_str().unwrap_or_default()
        ));
    }
    let host = uri
        .host()
        .ok_or("no host in URL")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let address = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|err| format!("dial tcp: lookup {host}: {err}"))?
        .next()
        .ok_or_else(|| format!("dial tcp: lookup {host}: no such host"))?;
    let tcp = TcpStream::connect(address).await.map_err(|err| {
        let reason = match err.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => err.to_string(),
        };
        format!("dial tcp {address}: connect: {reason}")
    })?;

    let connector = TlsConnector::from(Arc::new(client_config(ca_bundle_base64)?));
    let server_name = ServerName::try_from(host.clone())
        .map_err(|err| format!("invalid server name {host}: {err}"))?;
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|err| tls_error(&err))?;

    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|err| err.to_string())?;
    tokio::spawn(async move {
        // The connection ends with the exchange; its error, if any, surfaces on the request.
        let _ = connection.await;
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let request = Request::post(path)
        .header(header::HOST, authority)
        .header(header::USER_AGENT, "kube-apiserver-admission")
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::ACCEPT, "application/json, */*")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|err| err.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes();
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err("response body too large".to_string());
    }
    if !status.is_success() {
        return Err(format!(
            "an error on the server (\"{}\") has prevented the request from succeeding",
            String::from_utf8_lossy(&bytes).trim()
        ));
    }
    Ok(bytes.to_vec())
}

/// A TLS client trusting exactly the certificates of the webhook's caBundle.
fn client_config(ca_bundle_base64: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(bundle) = ca_bundle_base64.filter(|b| !b.is_empty()) {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(bundle)
            .map_err(|err| format!("invalid caBundle: {err}"))?;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate = certificate.map_err(|err| format!("invalid caBundle: {err}"))?;
            roots
                .add(certificate)
                .map_err(|err| format!("invalid caBundle: {err}"))?;
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

fn tls_error(err: &std::io::Error) -> String {
    let rustls_error = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .to_string()
        }
        Some(other) => format!("tls: {other}"),
        None => err.to_string(),
    }
}
