//! A Redis server of one test's own: `redis-server` (or `COLLOQUY_TEST_REDIS_SERVER`) on a free
//! loopback port, keeping nothing on disk, which the test may stop and start again on the
//! same port to play an outage. A machine without the binary fails the test, it does not skip
//! it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) Redis server.
pub struct TestRedis {
    addr: SocketAddr,
    child: Option<Child>,
}

impl TestRedis {
    /// Starts a server and returns once it answers `PING`.
    pub fn start() -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port");
        let mut redis = Self { addr, child: None };
        redis.resume();
        redis
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Kills the server, as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on its port (empty: it keeps nothing on disk).
    pub fn resume(&mut self) {
        self.stop();
        let program =
            std::env::var("COLLOQUY_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = self.addr.port().to_string();
        let child = Command::new(&program)
            .args(["--bind", "127.0.0.1", "--port", &port])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{program} does not start ({e}); the rate-limit tests need a Redis server binary (Debian: redis-server)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {} does not answer PING",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
