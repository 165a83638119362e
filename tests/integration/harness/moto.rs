//! A `moto_server` (the local AWS emulator from PyPI) on a free loopback port, one per test that
//! asks, stopped when the guard drops. It is started through a small shell wrapper that stops the
//! emulator when its standard input closes, so a test process that dies abruptly leaves nothing behind.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;

use super::script_output;

/// A running emulator.
pub struct Moto {
    endpoint: String,
    child: Child,
}

/// The region the tests use.
pub const REGION: &str = "us-east-1";

impl Moto {
    /// Starts `moto_server` and waits until it accepts connections.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// Starts `moto_server` with emulator settings (e.g. `MOTO_ECS_SERVICE_RUNNING`, how many tasks
    /// it reports running, since it runs none).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let bin = script_output("moto-venv.sh");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("pick a free loopback port")
            .port();
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" </dev/null >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid"#)
            .arg(&bin)
            .arg(port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {addr} within 60s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://{addr}"),
            child,
        }
    }

    /// The emulator's URL, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration pointed at the emulator (the `endpoint_url` that `AWS_ENDPOINT_URL`
    /// sets for the operator), with dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the wrapper stop the emulator and exit.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
