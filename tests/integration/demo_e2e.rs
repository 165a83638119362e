//! The local demo (`cargo run --example demo`, the README's first command) as a user runs it: with
//! no argument it brings up its own API server and emulator, applies reference architecture 4,
//! waits for Ready, prints what was built and how to reach it, and stops everything on Ctrl-C.
//! The test reads what the demo printed, then checks it against the API server and the emulator
//! the demo names (through a kube client and the AWS SDK, as `kubectl` and the AWS CLI would),
//! sends SIGINT and checks that nothing is left running.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use webstack_operator::api::{StaticSite, WebStack};

/// The demo binary that cargo built beside the operator (`cargo test` builds examples), refused
/// when older than its sources (e.g. after `cargo test --test integration`, which does not).
fn demo_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_webstack-operator"))
        .with_file_name("examples")
        .join("demo");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: build it with `cargo build --example demo` (plain `cargo test` does)",
            bin.display()
        )
    });
    // The sources cargo built it from (its dep-info: the demo, the crate, the harness it
    // includes), not every file under src/ (a test-only module changes no binary).
    let dep_info = bin.with_extension("d");
    let listed = std::fs::read_to_string(&dep_info).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: build the demo with `cargo build --example demo`",
            dep_info.display()
        )
    });
    let sources: Vec<&str> = listed
        .split_once(": ")
        .map(|(_, deps)| deps.split_whitespace().collect())
        .unwrap_or_default();
    assert!(
        sources.iter().any(|s| s.ends_with("demo/main.rs")),
        "{}: no sources listed",
        dep_info.display()
    );
    let newest = sources
        .iter()
        .filter_map(|s| std::fs::metadata(s).and_then(|m| m.modified()).ok())
        .max()
        .expect("sources");
    assert!(
        built >= newest,
        "{} is older than its sources: rebuild it with `cargo build --example demo` (plain `cargo test` does)",
        bin.display()
    );
    bin
}

/// The value after `prefix` on the first printed line that has it.
fn printed(lines: &[String], prefix: &str) -> String {
    lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| panic!("the demo printed no `{prefix}`:\n{}", lines.join("\n")))
}

fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_brings_up_architecture_4_and_stops_on_ctrl_c() {
    let bin = demo_binary();
    let stderr = std::env::temp_dir().join(format!("{}.stderr", crate::harness::unique("webstack-demo")));
    let mut child = Command::new(&bin)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Up to "Press Ctrl-C": the substrate is built already in a test run, so this is the start of
    // both processes, the CRDs and the stack converging.
    let start = Instant::now();
    let mut lines: Vec<String> = Vec::new();
    while !lines.iter().any(|l| l.contains("Press Ctrl-C")) {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the demo did not get to `Press Ctrl-C` in 300s; it printed:\n{}\nstderr:\n{}",
                    lines.join("\n"),
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        }
    }
    println!("demo: up and printed in {:.1}s", start.elapsed().as_secs_f64());
    let text = lines.join("\n");
    // The printout: each object Ready with its status, and the AWS resources by kind.
    for want in [
        "WebStack/netflux  Ready=True",
        "StaticSite/netflux-web  Ready=True",
        "vpcId: vpc-",
        "loadBalancer.dnsName: ",
        "services[movies]: ",
        "distributionId: ",
        "VPC (1): vpc-",
        "load balancer (1): ",
        "ECS service (2): ",
        "DB instance (1): ",
        "distribution (1): ",
        "bucket (1): ",
    ] {
        assert!(text.contains(want), "the demo's printout lacks `{want}`:\n{text}");
    }

    // What it says to run, done: the API server behind its kubeconfig has the stack, Ready.
    let kubeconfig = PathBuf::from(printed(&lines, "export KUBECONFIG="));
    let config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let server: SocketAddr = config
        .cluster_url
        .authority()
        .unwrap()
        .as_str()
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let client = Client::try_from(config).unwrap();
    let stack = Api::<WebStack>::namespaced(client.clone(), "default")
        .get("netflux")
        .await
        .unwrap();
    let ready = |conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
        conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    };
    assert!(ready(&stack.status.as_ref().unwrap().conditions), "{:?}", stack.status);
    let site = Api::<StaticSite>::namespaced(client, "default")
        .get("netflux-web")
        .await
        .unwrap();
    assert!(ready(&site.status.as_ref().unwrap().conditions), "{:?}", site.status);

    // And the emulated account it names holds the stack's load balancer and distribution.
    let endpoint = printed(&lines, "export AWS_ENDPOINT_URL=");
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let lbs = aws_sdk_elasticloadbalancingv2::Client::new(&aws)
        .describe_load_balancers()
        .send()
        .await
        .unwrap();
    assert_eq!(lbs.load_balancers().len(), 1);
    assert_eq!(
        lbs.load_balancers()[0].dns_name(),
        stack
            .status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .and_then(|l| l.dns_name.as_deref())
    );
    let distributions = aws_sdk_cloudfront::Client::new(&aws)
        .list_distributions()
        .send()
        .await
        .unwrap();
    let count = distributions.distribution_list().map(|l| l.items().len()).unwrap_or(0);
    assert_eq!(count, 1);
    let moto: SocketAddr = endpoint
        .trim_start_matches("http://")
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();

    // Ctrl-C: a clean exit, and neither the API server nor the emulator keeps running.
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop within 60s of Ctrl-C");
        std::thread::sleep(Duration::from_millis(200));
    };
    lines.extend(rx.try_iter());
    assert!(
        status.success(),
        "the demo exited with {status} on Ctrl-C:\n{}\nstderr:\n{}",
        lines.join("\n"),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    assert!(lines.iter().any(|l| l == "==> stopped"), "{}", lines.join("\n"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while listening(server) || listening(moto) {
        assert!(
            Instant::now() < deadline,
            "30s after the demo stopped, still listening: API server {server} {}, emulator {moto} {}",
            listening(server),
            listening(moto)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
