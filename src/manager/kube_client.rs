//! The Kubernetes client: kube's own stack (base URI, authentication, extra headers, retries of
//! 429/503/504, connect timeout), over a connection pool that speaks HTTP/2 when the API server
//! offers it (ALPN `h2`, as client-go does), HTTP/1.1 otherwise.
//!
//! Why: kube 5 builds an HTTP/1.1-only client, where every request in flight holds a connection of
//! its own, and the pool keeps each one 90 s after. A burst of first-status writes (1,800 objects
//! applied at once) opened 324 TLS connections to the API server, each with its read and write
//! buffers, its TLS state and hyper's dispatch channel: 13 of the 28.8 MB at the heap's peak
//! (heaptrack, 300 stacks). Over HTTP/2 every request and watch is a stream of one connection.
//! kube's client builder is not extensible here (kube-rs issue 1923: HTTP/2 is not enabled by
//! kube itself because its websocket upgrades — exec, attach, port-forward — need HTTP/1.1; the
//! operator uses none of them).

use std::time::Duration;

use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::ConfigExt;
use kube::client::retry::RetryPolicy;
use kube::{Client, Config};
use tower::ServiceBuilder;

/// How often an idle HTTP/2 connection is pinged, and how long an answer may take before the
/// connection is dropped (every watch on it then restarts): a dead API server or load balancer
/// path is noticed in under a minute instead of at the next request.
const KEEP_ALIVE: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(20));

/// The client of the kubeconfig or in-cluster configuration (kube's `Client::try_default`, over
/// HTTP/2 where offered).
pub async fn infer() -> Result<Client, kube::Error> {
    let config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    build(config)
}

/// The client of `config`. A configuration that names a proxy gets kube's own client (which
/// refuses proxies in this build, as before).
pub fn build(config: Config) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let tls = config.rustls_client_config()?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e)))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = https.enable_http1().enable_http2().wrap_connector(http);
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool = Pool::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .http2_keep_alive_interval(KEEP_ALIVE.0)
        .http2_keep_alive_timeout(KEEP_ALIVE.1)
        .http2_keep_alive_while_idle(true)
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| tower::retry::RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(pool);
    Ok(Client::new(service, config.default_namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        Config::new(url.parse().expect("a URL"))
    }

    #[tokio::test]
    async fn a_bad_tls_server_name_is_refused_by_name() {
        let mut c = config("https://127.0.0.1:6443");
        c.tls_server_name = Some("not a name!".into());
        let err = build(c).err().expect("refused");
        assert!(err.to_string().contains("invalid server name"), "{err}");
    }
}
