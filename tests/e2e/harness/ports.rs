//! Free local ports for the services, which must know their address before they start so that
//! a restarted service comes back on the same one.

use std::net::{SocketAddr, TcpListener};

/// A port on 127.0.0.1 that nothing listens on right now. The listener that found it is
/// closed before the port is handed out, so a child process can bind it (the services set
/// `SO_REUSEADDR`, so a port left in `TIME_WAIT` by an earlier run is usable too).
pub fn free_local_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("reading the bound address")
}
