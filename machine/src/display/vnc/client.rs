//! One client's session: a reader thread parses its messages, and the session thread answers update requests with
//! what changed since the picture the client holds, turns keys and pointer motion into [`InputEvent`]s, and ends
//! the session (with a log line) on the first bad message or broken connection.

use super::damage::changed_rects;
use super::encode::{self, ZrleEncoder};
use super::handshake::{self, wire_u16};
use super::keysym;
use super::protocol::{
    ClientMessage, MessageError, PixelFormat, Rect, ENCODING_DESKTOP_SIZE, ENCODING_RAW,
    ENCODING_ZRLE, MSG_FRAMEBUFFER_UPDATE,
};
use crate::display::SharedFrame;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use vx86_devices::{Frame, InputEvent};

/// The desktop name clients show.
const DESKTOP_NAME: &str = "vx86";
/// How long the opening may take, and the longest a client may leave an update unread.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a client waiting for a change looks at the frame.
const FRAME_POLL: Duration = Duration::from_millis(10);

/// RFB pointer buttons: left, middle, right (bits 0-2).
const RFB_LEFT: u8 = 0x01;
/// RFB middle button.
const RFB_MIDDLE: u8 = 0x02;
/// RFB right button.
const RFB_RIGHT: u8 = 0x04;

/// Serves one client on `stream` until it leaves or misbehaves; logs why a session ended abnormally.
pub fn run(stream: TcpStream, frame: Arc<SharedFrame>, input: Sender<InputEvent>) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "a client".to_string(), |a| a.to_string());
    if let Err(why) = serve(stream, frame, input) {
        eprintln!("vx86: vnc: {peer}: {why}; connection closed");
    }
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] handshake::HandshakeError),
    #[error("{0}")]
    Message(#[from] MessageError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn serve(
    mut stream: TcpStream,
    shared: Arc<SharedFrame>,
    input: Sender<InputEvent>,
) -> Result<(), SessionError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (generation, frame) = shared.latest();
    handshake::serve(&mut stream, frame.width, frame.height, DESKTOP_NAME)?;
    // Messages may be far apart once the session runs.
    stream.set_read_timeout(None)?;
    let messages = spawn_reader(stream.try_clone()?)?;
    let mut session = Session {
        stream,
        shared,
        input,
        format: PixelFormat::NATIVE,
        zrle: None,
        desktop_size: false,
        view: Frame::new(frame.width, frame.height),
        seen_generation: generation,
        pending: None,
        pointer: None,
        buttons: 0,
    };
    let result = session.run(&messages);
    // Wake the reader if it still waits on the socket.
    let _ = session.stream.shutdown(std::net::Shutdown::Both);
    result
}

/// Reads the client's messages on a thread of their own; the channel closes after the last good one, carrying the
/// error that ended the reading unless the client simply left.
fn spawn_reader(
    mut stream: TcpStream,
) -> io::Result<Receiver<Result<ClientMessage, MessageError>>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let reader = std::thread::Builder::new().name("vnc-reader".into());
    let spawned = reader.spawn(move || loop {
        match ClientMessage::read(&mut stream) {
            Ok(m) => {
                if tx.send(Ok(m)).is_err() {
                    return;
                }
            }
            Err(MessageError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    });
    spawned.map(|_| rx)
}

struct Session {
    stream: TcpStream,
    shared: Arc<SharedFrame>,
    input: Sender<InputEvent>,
    /// The client's pixel format.
    format: PixelFormat,
    /// The ZRLE stream, once the client prefers ZRLE to raw.
    zrle: Option<ZrleEncoder>,
    /// The client follows size changes (DesktopSize pseudo-encoding).
    desktop_size: bool,
    /// The picture the client holds (in frame pixels).
    view: Frame,
    /// The frame generation last compared against the view.
    seen_generation: u64,
    /// An incremental update request waiting for a change.
    pending: Option<Rect>,
    /// The last pointer position, to turn absolute positions into motion.
    pointer: Option<(u16, u16)>,
    /// The buttons last reported, in [`InputEvent::Pointer`]'s bits.
    buttons: u8,
}

impl Session {
    fn run(
        &mut self,
        messages: &Receiver<Result<ClientMessage, MessageError>>,
    ) -> Result<(), SessionError> {
        loop {
            match messages.recv_timeout(FRAME_POLL) {
                Ok(message) => self.handle(message?)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if let Some(region) = self.pending {
                let (generation, frame) = self.shared.latest();
                if generation != self.seen_generation {
                    self.seen_generation = generation;
                    self.update(&frame, region, true)?;
                }
            }
        }
    }

    fn handle(&mut self, message: ClientMessage) -> Result<(), SessionError> {
        match message {
            ClientMessage::SetPixelFormat(format) => self.format = format,
            ClientMessage::SetEncodings(encodings) => {
                let preferred = encodings
                    .iter()
                    .find(|&&e| e == ENCODING_RAW || e == ENCODING_ZRLE);
                if preferred == Some(&ENCODING_ZRLE) {
                    self.zrle.get_or_insert_with(ZrleEncoder::new);
                } else {
                    self.zrle = None;
                }
                self.desktop_size = encodings.contains(&ENCODING_DESKTOP_SIZE);
            }
            ClientMessage::UpdateRequest {
                incremental,
                region,
            } => {
                let (generation, frame) = self.shared.latest();
                self.seen_generation = generation;
                self.pending = Some(region);
                self.update(&frame, region, incremental)?;
            }
            ClientMessage::Key { down, keysym } => {
                if let Some(scancode) = keysym::scancode(keysym) {
                    self.send_input(InputEvent::Key { scancode, down });
                }
            }
            ClientMessage::Pointer { buttons, x, y } => self.pointer(buttons, x, y),
            ClientMessage::CutText => {}
        }
        Ok(())
    }

    /// Input for the machine; a machine that has stopped takes none, which is no error of the client's.
    fn send_input(&self, event: InputEvent) {
        let _ = self.input.send(event);
    }

    /// Turns an absolute pointer position into motion since the last one, with the buttons in the i8042's order.
    fn pointer(&mut self, rfb_buttons: u8, x: u16, y: u16) {
        let mut buttons = 0;
        for (rfb, bit) in [(RFB_LEFT, 1), (RFB_RIGHT, 2), (RFB_MIDDLE, 4)] {
            if rfb_buttons & rfb != 0 {
                buttons |= bit;
            }
        }
        let (dx, dy) = match self.pointer {
            Some((px, py)) => (i32::from(x) - i32::from(px), i32::from(y) - i32::from(py)),
            None => (0, 0),
        };
        self.pointer = Some((x, y));
        if dx != 0 || dy != 0 || buttons != self.buttons {
            self.buttons = buttons;
            self.send_input(InputEvent::Pointer { dx, dy, buttons });
        }
    }

    /// Answers an update request for `region` with `frame`: everything in it, or only what changed since the view
    /// when `incremental`; an incremental request with nothing changed stays pending.
    fn update(&mut self, frame: &Frame, region: Rect, incremental: bool) -> io::Result<()> {
        let mut resized = false;
        let frame = if (frame.width, frame.height) == (self.view.width, self.view.height) {
            std::borrow::Cow::Borrowed(frame)
        } else if self.desktop_size {
            self.view = Frame::new(frame.width, frame.height);
            resized = true;
            std::borrow::Cow::Borrowed(frame)
        } else {
            std::borrow::Cow::Owned(fit(frame, self.view.width, self.view.height))
        };
        let region = clip(region, &frame);
        let rects = if resized {
            vec![clip(whole(&frame), &frame)]
        } else if incremental {
            changed_rects(&self.view, &frame, region)
        } else {
            vec![region]
        };
        if rects.is_empty() && !resized {
            return Ok(());
        }
        self.pending = None;
        let count = rects.len() + usize::from(resized);
        let mut msg = vec![MSG_FRAMEBUFFER_UPDATE, 0];
        msg.extend_from_slice(&wire_u16(count).to_be_bytes());
        if resized {
            let size = Rect {
                x: 0,
                y: 0,
                width: frame.width,
                height: frame.height,
            };
            put_rect_header(size, ENCODING_DESKTOP_SIZE, &mut msg);
        }
        for rect in rects {
            match &mut self.zrle {
                Some(zrle) => {
                    put_rect_header(rect, ENCODING_ZRLE, &mut msg);
                    zrle.encode(&frame, rect, self.format, &mut msg);
                }
                None => {
                    put_rect_header(rect, ENCODING_RAW, &mut msg);
                    encode::raw(&frame, rect, self.format, &mut msg);
                }
            }
            for y in rect.y..rect.y + rect.height {
                let row = y * frame.width;
                self.view.pixels[row + rect.x..row + rect.x + rect.width]
                    .copy_from_slice(&frame.pixels[row + rect.x..row + rect.x + rect.width]);
            }
        }
        self.stream.write_all(&msg)
    }
}

/// The whole of `frame`.
fn whole(frame: &Frame) -> Rect {
    Rect {
        x: 0,
        y: 0,
        width: frame.width,
        height: frame.height,
    }
}

/// `region` cut to `frame`.
fn clip(region: Rect, frame: &Frame) -> Rect {
    let x = region.x.min(frame.width);
    let y = region.y.min(frame.height);
    Rect {
        x,
        y,
        width: region.width.min(frame.width - x),
        height: region.height.min(frame.height - y),
    }
}

/// `frame` cut or padded with black to `width` x `height`, for a client that cannot follow a size change.
fn fit(frame: &Frame, width: usize, height: usize) -> Frame {
    let mut fitted = Frame::new(width, height);
    let w = width.min(frame.width);
    for y in 0..height.min(frame.height) {
        fitted.pixels[y * width..y * width + w].copy_from_slice(&frame.row(y)[..w]);
    }
    fitted
}

/// A rectangle header: position, size and encoding.
fn put_rect_header(rect: Rect, encoding: i32, out: &mut Vec<u8>) {
    for v in [rect.x, rect.y, rect.width, rect.height] {
        out.extend_from_slice(&wire_u16(v).to_be_bytes());
    }
    out.extend_from_slice(&encoding.to_be_bytes());
}
