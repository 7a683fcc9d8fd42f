//! The Prometheus metric gates query: at a URL (`--prometheus https://…`, with a bearer
//! token and TLS options), or through the API server's service proxy
//! (`--prometheus svc/NAMESPACE/NAME:PORT`), so that CI needs no route into the cluster.
//! One instant query (`/api/v1/query`) per evaluation, bounded by a timeout; every failure
//! is a [`Measurement::Error`] naming the address, never a hang.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use policy::gate::Measurement;
use reqwest::Url;
use serde_json::Value;

use crate::cli::PrometheusArgs;
use crate::cluster::proxy_path;

/// Where Prometheus is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// An HTTP(S) URL, the base under which `/api/v1/query` is served.
    Url(Url),
    /// A Service, reached through the API server's service proxy.
    Service {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its port, by number or name.
        port: String,
    },
}

impl Address {
    /// `https://prometheus.example.com[/prefix]` or `svc/NAMESPACE/NAME:PORT`.
    pub fn parse(text: &str) -> Result<Address> {
        if let Some(service) = text.strip_prefix("svc/") {
            let parsed = service.split_once('/').and_then(|(namespace, rest)| {
                let (name, port) = rest.split_once(':')?;
                [namespace, name, port]
                    .iter()
                    .all(|part| !part.is_empty() && !part.contains(['/', ':']))
                    .then(|| Address::Service {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        port: port.to_string(),
                    })
            });
            return parsed.with_context(|| {
                format!("Prometheus address {text:?} is not svc/NAMESPACE/NAME:PORT, e.g. svc/monitoring/prometheus:9090")
            });
        }
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(Address::Url(url))
            }
            _ => bail!(
                "Prometheus address {text:?} is neither an http(s) URL (http://prometheus.monitoring:9090) nor svc/NAMESPACE/NAME:PORT"
            ),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Url(url) => write!(f, "{}", url.as_str().trim_end_matches('/')),
            Address::Service {
                namespace,
                name,
                port,
            } => write!(f, "svc/{namespace}/{name}:{port}"),
        }
    }
}

/// A client for one Prometheus.
pub struct Prometheus {
    address: Address,
    transport: Transport,
}

enum Transport {
    Direct {
        base: Url,
        http: reqwest::Client,
        token: Option<String>,
    },
    ServiceProxy {
        client: kube::Client,
        /// `/api/v1/namespaces/NS/services/NAME:PORT/proxy/api/v1/query`.
        query_path: String,
    },
}

impl Prometheus {
    /// The Prometheus `args` name, else the one the policy names (`policy_address`);
    /// `None` when neither does. A Service is reached through `client`'s API server.
    pub fn connect(
        args: &PrometheusArgs,
        policy_address: Option<&str>,
        client: &kube::Client,
    ) -> Result<Option<Prometheus>> {
        let Some(text) = args.prometheus.as_deref().or(policy_address) else {
            return Ok(None);
        };
        let address = Address::parse(text)?;
        let transport = match &address {
            Address::Service {
                namespace,
                name,
                port,
            } => Transport::ServiceProxy {
                client: client.clone(),
                query_path: proxy_path(namespace, "services", name, port, "api/v1/query"),
            },
            Address::Url(base) => Transport::Direct {
                base: base.clone(),
                http: http_client(args)?,
                token: read_token(args.prometheus_token_file.as_ref())?,
            },
        };
        Ok(Some(Prometheus { address, transport }))
    }

    /// The address, as messages name it.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// One instant query, answered within `timeout`.
    pub async fn query(&self, promql: &str, timeout: Duration) -> Measurement {
        let answer = tokio::time::timeout(timeout, self.send(promql)).await;
        let outcome = match answer {
            Err(_elapsed) => Err(format!(
                "did not answer within {:#}",
                jiff::SignedDuration::try_from(timeout).unwrap_or_default()
            )),
            Ok(Err(reason)) => Err(reason),
            Ok(Ok((status, body))) => parse_answer(status, &body),
        };
        match outcome {
            Ok(Some(value)) if !value.is_nan() => Measurement::Value(value),
            Ok(_) => Measurement::NoData,
            Err(reason) => Measurement::Error(format!("Prometheus at {}: {reason}", self.address)),
        }
    }

    /// Sends the query; the HTTP status and body, or why nothing came back.
    async fn send(&self, promql: &str) -> Result<(u16, Vec<u8>), String> {
        match &self.transport {
            Transport::Direct { base, http, token } => {
                let mut url = base.clone();
                url.path_segments_mut()
                    .map_err(|()| "the URL cannot have a path".to_string())?
                    .pop_if_empty()
                    .extend(["api", "v1", "query"]);
                url.query_pairs_mut().append_pair("query", promql);
                let mut request = http.get(url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.map_err(|err| error_chain(&err))?;
                let status = response.status().as_u16();
                let body = response.bytes().await.map_err(|err| error_chain(&err))?;
                Ok((status, body.to_vec()))
            }
            Transport::ServiceProxy { client, query_path } => {
                let query: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
                let path = format!("{query_path}?query={query}");
                let request = http::Request::get(path)
                    .body(Vec::new())
                    .map_err(|err| err.to_string())?;
                let response = client
                    .send(request.map(Into::into))
                    .await
                    .map_err(|err| format!("through the API server's service proxy: {err}"))?;
                let status = response.status().as_u16();
                let body = response
                    .into_body()
                    .collect_bytes()
                    .await
                    .map_err(|err| err.to_string())?;
                Ok((status, body.to_vec()))
            }
        }
    }
}

/// A reqwest error with its causes: its own text says only "error sending request".
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// The HTTP client of a Prometheus URL, with the TLS options of `args`.
fn http_client(args: &PrometheusArgs) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &args.prometheus_ca_file {
        let pem = std::fs::read(path).with_context(|| {
            format!(
                "{}: cannot read the Prometheus CA (--prometheus-ca-file)",
                path.display()
            )
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!(
                "{}: not PEM certificates (--prometheus-ca-file)",
                path.display()
            )
        })?;
        builder = builder.tls_certs_merge(certificates);
    }
    if args.prometheus_insecure_skip_tls_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .context("cannot build the HTTP client for Prometheus")
}

fn read_token(path: Option<&PathBuf>) -> Result<Option<String>> {
    path.map(|path| {
        std::fs::read_to_string(path)
            .map(|token| token.trim().to_string())
            .with_context(|| {
                format!(
                    "{}: cannot read the Prometheus bearer token (--prometheus-token-file)",
                    path.display()
                )
            })
    })
    .transpose()
}

/// The value of an instant query's answer: `None` for an empty result. A result of
/// several series, an error status or a body that is not Prometheus' JSON is an error
/// saying what came back.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<Option<f64>, String> {
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        let text = String::from_utf8_lossy(body);
        format!(
            "answered HTTP {status} that is not Prometheus' JSON: {}",
            text.chars().take(200).collect::<String>().trim()
        )
    })?;
    // The API server's own answer (no endpoints, forbidden) is a Status.
    if json["kind"] == "Status" {
        return Err(format!(
            "the API server's service proxy answered HTTP {status}: {}",
            json["message"].as_str().unwrap_or_default()
        ));
    }
    if json["status"] != "success" {
        return Err(format!(
            "answered HTTP {status}: {} {}",
            json["errorType"].as_str().unwrap_or("error"),
            json["error"].as_str().unwrap_or_default()
        ));
    }
    let data = &json["data"];
    let sample = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let series = data["result"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            match series {
                [] => return Ok(None),
                [one] => &one["value"],
                several => {
                    return Err(format!(
                        "returned {} series where a gate needs one value; aggregate the query (sum, max, avg) or select one series",
                        several.len()
                    ));
                }
            }
        }
        other => {
            return Err(format!(
                "returned a {} result where a gate needs one value (a scalar or one series)",
                other.unwrap_or("missing")
            ));
        }
    };
    sample[1]
        .as_str()
        .and_then(|text| text.parse::<f64>().ok())
        .map(Some)
        .ok_or_else(|| format!("returned a sample that is not [time, \"value\"]: {sample}"))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    #[rstest]
    #[case::one_series(json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "0.25"]}]}}), Ok(Some(0.25)))]
    #[case::scalar(json!({"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "1"]}}), Ok(Some(1.0)))]
    #[case::empty(json!({"status": "success", "data": {"resultType": "vector", "result": []}}), Ok(None))]
    #[case::several(
        json!({"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "1"]}, {"value": [1, "2"]}]}}),
        Err("returned 2 series where a gate needs one value; aggregate the query (sum, max, avg) or select one series".to_string())
    )]
    #[case::matrix(
        json!({"status": "success", "data": {"resultType": "matrix", "result": []}}),
        Err("returned a matrix result where a gate needs one value (a scalar or one series)".to_string())
    )]
    #[case::bad_query(
        json!({"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}),
        Err("answered HTTP 400: bad_data 1:5: parse error: unexpected end of input".to_string())
    )]
    #[case::proxy_status(
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "no endpoints available for service \"prometheus\"", "code": 503}),
        Err("the API server's service proxy answered HTTP 400: no endpoints available for service \"prometheus\"".to_string())
    )]
    fn answers_are_one_value_or_an_error(
        #[case] body: Value,
        #[case] parsed: Result<Option<f64>, String>,
    ) {
        let status = if body["status"] == "success" {
            200
        } else {
            400
        };
        assert_eq!(parse_answer(status, body.to_string().as_bytes()), parsed);
    }

    #[test]
    fn nan_and_non_json_answers() {
        let nan = json!({"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "NaN"]}]}});
        assert!(
            parse_answer(200, nan.to_string().as_bytes())
                .unwrap()
                .unwrap()
                .is_nan()
        );
        assert_eq!(
            parse_answer(502, b"<html>Bad Gateway</html>"),
            Err(
                "answered HTTP 502 that is not Prometheus' JSON: <html>Bad Gateway</html>"
                    .to_string()
            )
        );
    }

    #[rstest]
    #[case::url("http://127.0.0.1:9090", "http://127.0.0.1:9090")]
    #[case::url_with_prefix(
        "https://metrics.example.com/prometheus/",
        "https://metrics.example.com/prometheus"
    )]
    #[case::service("svc/monitoring/prometheus:9090", "svc/monitoring/prometheus:9090")]
    #[case::service_named_port("svc/monitoring/prometheus:web", "svc/monitoring/prometheus:web")]
    fn addresses_parse(#[case] text: &str, #[case] shown: &str) {
        assert_eq!(Address::parse(text).unwrap().to_string(), shown);
    }

    #[rstest]
    #[case::no_port("svc/monitoring/prometheus", "is not svc/NAMESPACE/NAME:PORT")]
    #[case::no_namespace("svc/prometheus:9090", "is not svc/NAMESPACE/NAME:PORT")]
    #[case::bare_host("prometheus:9090", "is neither an http(s) URL")]
    #[case::other_scheme("ftp://prometheus", "is neither an http(s) URL")]
    fn other_addresses_are_refused(#[case] text: &str, #[case] problem: &str) {
        let err = Address::parse(text).unwrap_err().to_string();
        assert!(err.contains(problem), "{err}");
    }
}
