//! An RFB 3.8 (VNC) server: QEMU's `-vnc :N` serves the machine's screen on TCP port 5900+N of the loopback address
//! (`-vnc HOST:N` on another address), to any number of clients at once.
//!
//! Security type None; the server's pixel format is 32-bit true colour, and a client may ask for any 8, 16 or 32-bit
//! true-colour format in either byte order. Updates are Raw or ZRLE, whichever the client lists first, and carry
//! only the 16x16 tiles that changed since the picture the client holds; a change of the screen's size reaches
//! clients that list the DesktopSize pseudo-encoding. Keys (X keysyms) become PC scan codes and the pointer's
//! absolute positions become relative motion, both sent to the machine as [`InputEvent`]s.
//!
//! Everything runs on the server's own threads (one accepting, two per client): a slow or broken client never holds
//! up the guest, and a client that sends garbage is dropped with a log line.

mod client;
mod damage;
mod encode;
mod handshake;
mod keysym;
pub mod protocol;

use super::SharedFrame;
use crossbeam_channel::Sender;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use vx86_devices::InputEvent;

/// The TCP port of display 0.
pub const BASE_PORT: u16 = 5900;
/// How long the server waits after a failed accept.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A running VNC server (it runs until the process ends).
pub struct VncServer {
    addr: SocketAddr,
}

impl VncServer {
    /// Listens on `addr` and serves `frame` to every client that connects, sending their input to `input`.
    pub fn start(
        addr: impl ToSocketAddrs,
        frame: Arc<SharedFrame>,
        input: Sender<InputEvent>,
    ) -> io::Result<VncServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        std::thread::Builder::new()
            .name("vnc".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else {
                        // Out of file descriptors, say: let some close before trying again.
                        std::thread::sleep(ACCEPT_RETRY);
                        continue;
                    };
                    let (frame, input) = (frame.clone(), input.clone());
                    let spawned = std::thread::Builder::new()
                        .name("vnc-client".into())
                        .spawn(move || client::run(stream, frame, input));
                    if let Err(e) = spawned {
                        eprintln!("vx86: vnc: cannot serve a client: {e}");
                    }
                }
            })?;
        Ok(VncServer { addr })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}
