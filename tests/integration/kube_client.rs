//! The operator's Kubernetes client (src/manager/kube_client.rs) against the real API server: it
//! negotiates HTTP/2, so its requests and watches share one connection instead of one each.

use futures::future::join_all;
use kube::config::{KubeConfigOptions, Kubeconfig};
use webstack_operator::manager::kube_client;

use crate::harness;

async fn operator_client() -> kube::Client {
    let kubeconfig =
        Kubeconfig::read_from(harness::kube::operator_kubeconfig_path()).expect("the operator's kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("load it");
    kube_client::build(config).expect("a client")
}

#[tokio::test]
async fn the_operator_client_speaks_http2_to_the_api_server_and_multiplexes() {
    let client = operator_client().await;
    let version = || {
        let client = client.clone();
        async move {
            let request = http::Request::get("/version")
                .body(kube::client::Body::empty())
                .expect("a request");
            client.send(request).await.expect("GET /version")
        }
    };
    // The API server offers h2 over TLS (ALPN), as to client-go.
    assert_eq!(version().await.version(), http::Version::HTTP_2);
    // Many requests at once: streams of the connection, each answered.
    let answers = join_all((0..200).map(|_| version())).await;
    assert!(
        answers
            .iter()
            .all(|r| r.status().is_success() && r.version() == http::Version::HTTP_2)
    );
}
