//! The VNC server, driven over real TCP sockets by a small RFB client written here (with its own Raw and ZRLE
//! decoders), and `vx86 -vnc` photographed by Debian's `vncsnapshot`.

mod common;

use crossbeam_channel::Receiver;
use flate2::{Decompress, FlushDecompress};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use vx86_devices::{Frame, InputEvent};
use vx86_machine::display::vnc::VncServer;
use vx86_machine::display::SharedFrame;

/// A server on a port the system picks, serving `frame`.
fn server(frame: Frame) -> (SocketAddr, Arc<SharedFrame>, Receiver<InputEvent>) {
    let shared = SharedFrame::new();
    shared.publish(frame);
    let (tx, rx) = crossbeam_channel::unbounded();
    let server = VncServer::start("127.0.0.1:0", shared.clone(), tx).expect("server starts");
    (server.local_addr(), shared, rx)
}

/// A frame with a different colour in every pixel's neighbourhood.
fn pattern(width: usize, height: usize, seed: u32) -> Frame {
    let mut f = Frame::new(width, height);
    for y in 0..height {
        for x in 0..width {
            f.pixels[y * width + x] = ((x as u32 * 7 + seed) & 0xFF) << 16
                | ((y as u32 * 13) & 0xFF) << 8
                | ((x as u32 ^ y as u32).wrapping_mul(seed) & 0xFF);
        }
    }
    f
}

/// The client's pixel format: what the test decodes.
#[derive(Clone, Copy)]
struct Format {
    bytes: usize,
    big_endian: bool,
    max: [u32; 3],
    shift: [u32; 3],
}

const NATIVE: Format = Format {
    bytes: 4,
    big_endian: false,
    max: [255, 255, 255],
    shift: [16, 8, 0],
};

const RGB565_BE: Format = Format {
    bytes: 2,
    big_endian: true,
    max: [31, 63, 31],
    shift: [11, 5, 0],
};

impl Format {
    /// What a frame pixel should look like in this format.
    fn expect(self, rgb: u32) -> u32 {
        let c = [(rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF];
        (0..3)
            .map(|i| ((c[i] * self.max[i] + 127) / 255) << self.shift[i])
            .sum()
    }

    fn message(self) -> Vec<u8> {
        let depth = if self.bytes == 4 { 24 } else { 16 };
        let mut m = vec![
            0,
            0,
            0,
            0,
            (self.bytes * 8) as u8,
            depth,
            u8::from(self.big_endian),
            1,
        ];
        for max in self.max {
            m.extend_from_slice(&(max as u16).to_be_bytes());
        }
        m.extend(self.shift.map(|s| s as u8));
        m.extend([0, 0, 0]);
        m
    }

    fn pixel(self, b: &[u8]) -> u32 {
        let mut v = 0u32;
        for k in 0..b.len() {
            let byte = if self.big_endian {
                b[k]
            } else {
                b[b.len() - 1 - k]
            };
            v = v << 8 | u32::from(byte);
        }
        v
    }

    /// ZRLE's compressed pixel size for this format.
    fn cpixel_bytes(self) -> usize {
        if self.bytes == 4 {
            3
        } else {
            self.bytes
        }
    }
}

/// A rectangle of an update: position, size, encoding, and the pixels decoded (empty for pseudo-encodings).
#[derive(Debug)]
struct UpdateRect {
    x: usize,
    y: usize,
    width: usize,
    height: usize,
    encoding: i32,
    pixels: Vec<u32>,
}

struct Client {
    stream: TcpStream,
    format: Format,
    zlib: Decompress,
    width: usize,
    height: usize,
    init: Vec<u8>,
}

impl Client {
    /// Connects and runs the RFB 3.8 opening.
    fn connect(addr: SocketAddr) -> Client {
        Client::connect_version(addr, b"RFB 003.008\n")
    }

    fn connect_version(addr: SocketAddr, version: &[u8; 12]) -> Client {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut server_version = [0u8; 12];
        stream.read_exact(&mut server_version).unwrap();
        assert_eq!(&server_version, b"RFB 003.008\n");
        stream.write_all(version).unwrap();
        if version == b"RFB 003.003\n" {
            assert_eq!(read_n(&mut stream, 4), [0, 0, 0, 1], "security None");
        } else {
            assert_eq!(read_n(&mut stream, 2), [1, 1], "one type: None");
            stream.write_all(&[1]).unwrap();
            if version == b"RFB 003.008\n" {
                assert_eq!(read_n(&mut stream, 4), [0, 0, 0, 0], "SecurityResult OK");
            }
        }
        stream.write_all(&[1]).unwrap(); // shared
        let mut init = read_n(&mut stream, 24);
        let name_len = u32::from_be_bytes(init[20..24].try_into().unwrap()) as usize;
        init.extend(read_n(&mut stream, name_len));
        Client {
            width: usize::from(u16::from_be_bytes([init[0], init[1]])),
            height: usize::from(u16::from_be_bytes([init[2], init[3]])),
            stream,
            format: NATIVE,
            zlib: Decompress::new(true),
            init,
        }
    }

    fn set_format(&mut self, format: Format) {
        self.stream.write_all(&format.message()).unwrap();
        self.format = format;
    }

    fn set_encodings(&mut self, encodings: &[i32]) {
        let mut m = vec![2, 0];
        m.extend_from_slice(&(encodings.len() as u16).to_be_bytes());
        for e in encodings {
            m.extend_from_slice(&e.to_be_bytes());
        }
        self.stream.write_all(&m).unwrap();
    }

    fn request(&mut self, incremental: bool, x: u16, y: u16, w: u16, h: u16) {
        let mut m = vec![3, u8::from(incremental)];
        for v in [x, y, w, h] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        self.stream.write_all(&m).unwrap();
    }

    fn request_all(&mut self, incremental: bool) {
        let (w, h) = (self.width as u16, self.height as u16);
        self.request(incremental, 0, 0, w, h);
    }

    /// Reads one FramebufferUpdate and decodes its rectangles.
    fn read_update(&mut self) -> Vec<UpdateRect> {
        let head = read_n(&mut self.stream, 4);
        assert_eq!(head[0], 0, "FramebufferUpdate");
        let count = u16::from_be_bytes([head[2], head[3]]);
        (0..count).map(|_| self.read_rect()).collect()
    }

    fn read_rect(&mut self) -> UpdateRect {
        let h = read_n(&mut self.stream, 12);
        let field = |k: usize| usize::from(u16::from_be_bytes([h[k], h[k + 1]]));
        let (x, y, width, height) = (field(0), field(2), field(4), field(6));
        let encoding = i32::from_be_bytes(h[8..12].try_into().unwrap());
        let pixels = match encoding {
            0 => read_n(&mut self.stream, width * height * self.format.bytes)
                .chunks(self.format.bytes)
                .map(|p| self.format.pixel(p))
                .collect(),
            16 => self.read_zrle(width, height),
            -223 => {
                self.width = width;
                self.height = height;
                Vec::new()
            }
            other => panic!("unexpected encoding {other}"),
        };
        UpdateRect {
            x,
            y,
            width,
            height,
            encoding,
            pixels,
        }
    }

    /// Inflates a ZRLE rectangle's data (the stream continues across rectangles) and decodes its tiles.
    fn read_zrle(&mut self, width: usize, height: usize) -> Vec<u32> {
        let len = u32::from_be_bytes(read_n(&mut self.stream, 4).try_into().unwrap()) as usize;
        let compressed = read_n(&mut self.stream, len);
        let mut data = Vec::with_capacity(width * height * 4 + 1024);
        let before = self.zlib.total_in();
        while ((self.zlib.total_in() - before) as usize) < compressed.len() {
            let used = (self.zlib.total_in() - before) as usize;
            data.reserve(64 * 1024);
            self.zlib
                .decompress_vec(&compressed[used..], &mut data, FlushDecompress::Sync)
                .expect("valid zlib data");
        }
        let mut pixels = vec![0u32; width * height];
        let mut r = &data[..];
        let cp = self.format.cpixel_bytes();
        let format = self.format;
        let cpixel = |r: &mut &[u8]| {
            let (p, rest) = r.split_at(cp);
            *r = rest;
            format.pixel(p)
        };
        for ty in (0..height).step_by(64) {
            for tx in (0..width).step_by(64) {
                let (tw, th) = (64.min(width - tx), 64.min(height - ty));
                let sub = r[0];
                r = &r[1..];
                let mut put = |i: usize, v: u32| pixels[(ty + i / tw) * width + tx + i % tw] = v;
                match sub {
                    0 => (0..tw * th).for_each(|i| put(i, cpixel(&mut r))),
                    1 => {
                        let c = cpixel(&mut r);
                        (0..tw * th).for_each(|i| put(i, c));
                    }
                    2..=16 => {
                        let palette: Vec<u32> = (0..sub).map(|_| cpixel(&mut r)).collect();
                        let bits = match sub {
                            2 => 1,
                            3..=4 => 2,
                            _ => 4,
                        };
                        let row_bytes = (tw * bits).div_ceil(8);
                        for row in 0..th {
                            for col in 0..tw {
                                let byte = r[row * row_bytes + col * bits / 8];
                                let shift = 8 - bits - (col * bits) % 8;
                                let index = (byte >> shift) & ((1 << bits) - 1) as u8;
                                put(row * tw + col, palette[usize::from(index)]);
                            }
                        }
                        r = &r[row_bytes * th..];
                    }
                    other => panic!("subencoding {other} not decoded by this test"),
                }
            }
        }
        assert!(r.is_empty(), "{} bytes left in the tile data", r.len());
        pixels
    }
}

/// Whether the server closes `stream` (an end of file or a reset, before the read timeout).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match stream.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    stream.read_exact(&mut b).expect("server sent enough bytes");
    b
}

/// Checks that `rect`'s pixels are `frame`'s in `format`.
fn assert_rect_matches(rect: &UpdateRect, frame: &Frame, format: Format) {
    for row in 0..rect.height {
        for col in 0..rect.width {
            let (x, y) = (rect.x + col, rect.y + row);
            assert_eq!(
                rect.pixels[row * rect.width + col],
                format.expect(frame.pixel(x, y)),
                "pixel ({x}, {y}) of {:?} encoding {}",
                (rect.x, rect.y, rect.width, rect.height),
                rect.encoding
            );
        }
    }
}

#[test]
fn handshake_gives_the_frame_size_and_a_32_bit_true_colour_format() {
    let (addr, _shared, _input) = server(Frame::new(720, 400));
    let c = Client::connect(addr);
    assert_eq!((c.width, c.height), (720, 400));
    assert_eq!(
        &c.init[4..20],
        [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]
    );
    assert_eq!(&c.init[24..], b"vx86");
    // 3.3 and 3.7 clients are served too.
    for version in [b"RFB 003.003\n", b"RFB 003.007\n"] {
        let c = Client::connect_version(addr, version);
        assert_eq!((c.width, c.height), (720, 400));
    }
}

#[test]
fn a_full_update_carries_every_pixel_of_the_frame() {
    let frame = pattern(100, 70, 3);
    let (addr, _shared, _input) = server(frame.clone());
    let mut c = Client::connect(addr);
    c.request_all(false);
    let update = c.read_update();
    assert_eq!(update.len(), 1);
    assert_eq!(
        (update[0].x, update[0].y, update[0].width, update[0].height),
        (0, 0, 100, 70)
    );
    assert_eq!(update[0].encoding, 0);
    assert_rect_matches(&update[0], &frame, NATIVE);
    // A request for part of the screen gets that part.
    c.request(false, 10, 20, 5, 3);
    let update = c.read_update();
    assert_eq!(
        (update[0].x, update[0].y, update[0].width, update[0].height),
        (10, 20, 5, 3)
    );
    assert_rect_matches(&update[0], &frame, NATIVE);
}

#[test]
fn an_incremental_update_carries_only_the_changed_region() {
    let frame = pattern(200, 120, 5);
    let (addr, shared, _input) = server(frame.clone());
    let mut c = Client::connect(addr);
    c.request_all(false);
    c.read_update();
    // Nothing changed: the request waits until something does.
    c.request_all(true);
    std::thread::sleep(Duration::from_millis(100));
    let mut changed = frame.clone();
    for y in 50..53 {
        for x in 100..104 {
            changed.pixels[y * 200 + x] = 0x00FF_00FF;
        }
    }
    shared.publish(changed.clone());
    let update = c.read_update();
    let area: usize = update.iter().map(|r| r.width * r.height).sum();
    assert!(
        area <= 2 * 16 * 16,
        "only the tiles around the change: {update:?}"
    );
    for r in &update {
        assert_rect_matches(r, &changed, NATIVE);
    }
    let covered = |x: usize, y: usize| {
        update
            .iter()
            .any(|r| (r.x..r.x + r.width).contains(&x) && (r.y..r.y + r.height).contains(&y))
    };
    assert!((50..53).all(|y| (100..104).all(|x| covered(x, y))));
}

#[test]
fn a_16_bit_big_endian_client_gets_its_own_pixel_format() {
    let frame = pattern(40, 30, 9);
    let (addr, _shared, _input) = server(frame.clone());
    let mut c = Client::connect(addr);
    c.set_format(RGB565_BE);
    c.request_all(false);
    let update = c.read_update();
    assert_rect_matches(&update[0], &frame, RGB565_BE);
}

#[test]
fn zrle_updates_decode_to_the_frame_in_32_and_16_bits() {
    // Few colours (palette tiles), one colour (solid tiles) and many (raw tiles) in one frame.
    let mut frame = pattern(150, 90, 11);
    for y in 0..64 {
        for x in 0..64 {
            frame.pixels[y * 150 + x] = if (x / 8 + y / 16) % 3 == 0 {
                0x00AA_AAAA
            } else {
                0x0000_00AA
            };
        }
        for x in 64..128 {
            frame.pixels[y * 150 + x] = 0x0012_3456;
        }
    }
    let (addr, shared, _input) = server(frame.clone());
    let mut c = Client::connect(addr);
    c.set_encodings(&[16, 0]);
    c.request_all(false);
    let update = c.read_update();
    assert_eq!(update[0].encoding, 16);
    assert_rect_matches(&update[0], &frame, NATIVE);
    // The zlib stream goes on across updates and pixel formats.
    let mut changed = frame.clone();
    changed.pixels[80 * 150 + 140] = 0x00FF_FFFF;
    shared.publish(changed.clone());
    c.request_all(true);
    for r in c.read_update() {
        assert_eq!(r.encoding, 16);
        assert_rect_matches(&r, &changed, NATIVE);
    }
    c.set_format(RGB565_BE);
    c.request_all(false);
    let update = c.read_update();
    assert_rect_matches(&update[0], &changed, RGB565_BE);
}

#[test]
fn a_size_change_reaches_clients_that_take_desktop_size() {
    let (addr, shared, _input) = server(pattern(64, 48, 1));
    let mut c = Client::connect(addr);
    c.set_encodings(&[0, -223]);
    c.request_all(false);
    c.read_update();
    let bigger = pattern(80, 50, 2);
    shared.publish(bigger.clone());
    c.request_all(true);
    let update = c.read_update();
    assert_eq!(update[0].encoding, -223);
    assert_eq!((update[0].width, update[0].height), (80, 50));
    assert_eq!((c.width, c.height), (80, 50));
    assert_eq!(
        (update[1].x, update[1].y, update[1].width, update[1].height),
        (0, 0, 80, 50)
    );
    assert_rect_matches(&update[1], &bigger, NATIVE);
}

#[test]
fn keys_and_pointer_motion_arrive_as_input_events() {
    let (addr, _shared, input) = server(Frame::new(64, 64));
    let mut c = Client::connect(addr);
    let next = || {
        input
            .recv_timeout(Duration::from_secs(10))
            .expect("an input event")
    };
    // Shift down, 'A' down and up, Shift up, then the up arrow.
    for (down, keysym) in [
        (1u8, 0xFFE1u32),
        (1, 0x41),
        (0, 0x41),
        (0, 0xFFE1),
        (1, 0xFF52),
    ] {
        let mut m = vec![4, down, 0, 0];
        m.extend_from_slice(&keysym.to_be_bytes());
        c.stream.write_all(&m).unwrap();
    }
    for (scancode, down) in [
        (0x2A, true),
        (0x1E, true),
        (0x1E, false),
        (0x2A, false),
        (0xE048, true),
    ] {
        assert_eq!(next(), InputEvent::Key { scancode, down });
    }
    // The first position is a reference; then motion and buttons (RFB right is bit 2, the i8042's bit 1).
    for (buttons, x, y) in [(0u8, 10u16, 10u16), (0, 15, 7), (4, 15, 7), (1, 12, 9)] {
        let mut m = vec![5, buttons];
        m.extend_from_slice(&x.to_be_bytes());
        m.extend_from_slice(&y.to_be_bytes());
        c.stream.write_all(&m).unwrap();
    }
    assert_eq!(
        next(),
        InputEvent::Pointer {
            dx: 5,
            dy: -3,
            buttons: 0
        }
    );
    assert_eq!(
        next(),
        InputEvent::Pointer {
            dx: 0,
            dy: 0,
            buttons: 2
        }
    );
    assert_eq!(
        next(),
        InputEvent::Pointer {
            dx: -3,
            dy: 2,
            buttons: 1
        }
    );
    // Cut text is read and ignored: the session goes on.
    c.stream
        .write_all(&[6, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c'])
        .unwrap();
    c.request(false, 0, 0, 1, 1);
    assert_eq!(c.read_update().len(), 1);
}

#[test]
fn garbage_clients_are_dropped_while_others_keep_working() {
    let frame = pattern(32, 32, 4);
    let (addr, _shared, _input) = server(frame.clone());
    let mut good = Client::connect(addr);
    // Not RFB at all.
    let mut web = TcpStream::connect(addr).unwrap();
    web.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    read_n(&mut web, 12);
    web.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(closed_by_server(&mut web));
    // An unknown message type after a good opening; a colour-map pixel format.
    let mut bad = Client::connect(addr);
    bad.stream.write_all(&[0xC8, 1, 2, 3]).unwrap();
    assert!(closed_by_server(&mut bad.stream));
    let mut colour_map = Client::connect(addr);
    let mut m = NATIVE.message();
    m[7] = 0;
    colour_map.stream.write_all(&m).unwrap();
    assert!(closed_by_server(&mut colour_map.stream));
    // A client that leaves in the middle of the opening.
    drop(TcpStream::connect(addr).unwrap());
    good.request_all(false);
    assert_rect_matches(&good.read_update()[0], &frame, NATIVE);
    let mut late = Client::connect(addr);
    late.request_all(false);
    assert_rect_matches(&late.read_update()[0], &frame, NATIVE);
}

/// Runs `command` to its end, killing it after `limit`; returns whether it exited successfully.
fn run_with_limit(command: &mut std::process::Command, limit: Duration) -> bool {
    let mut child = command.spawn().expect("the command starts");
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// vx86 running the demo guest with `-vnc :N` and `-no-shutdown`, its display number, and its serial output
/// (lines, as they come). The display number comes from a port the system handed out; should another process take
/// that port first, vx86 says it cannot listen and the next attempt picks another.
fn vx86_with_vnc() -> (std::process::Child, u16, Receiver<String>) {
    use std::io::BufRead;
    use std::process::Stdio;
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let display = port - vx86_machine::display::vnc::BASE_PORT;
        let mut child = common::vx86()
            .args([
                "-accel",
                "interp",
                "-m",
                "32",
                "-no-shutdown",
                "-quiet",
                "-vnc",
            ])
            .arg(format!(":{display}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vx86 starts");
        let lines = |r: Box<dyn Read + Send>| {
            let (tx, rx) = crossbeam_channel::unbounded();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let listening = loop {
            let Ok(line) = stderr.recv_timeout(Duration::from_secs(60)) else {
                break false;
            };
            if line.contains("VNC server on") {
                break true;
            }
            assert!(line.contains("cannot listen"), "vx86: {line}");
        };
        if listening {
            return (child, display, stdout);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("vx86 found no free VNC port in five tries");
}

#[test]
fn vncsnapshot_photographs_the_screen_vx86_serves() {
    let have = std::process::Command::new("vncsnapshot")
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok();
    if !have {
        vx86_cpu::testing::skip_outside_ci(
            "vncsnapshot (apt-get install vncsnapshot) is not installed",
        );
        return;
    }
    let (mut vx86, display, serial) = vx86_with_vnc();
    // Photograph the screen the demo left when it powered off (vx86 stays up under -no-shutdown).
    let finished = std::iter::from_fn(|| serial.recv_timeout(Duration::from_secs(120)).ok())
        .any(|line| line.contains(vx86_firmware::demo::SUCCESS_LINE));
    let dir = std::env::temp_dir().join(format!("vx86-vnc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let picture = dir.join("screen.jpg");
    let took = finished
        && run_with_limit(
            std::process::Command::new("vncsnapshot")
                .args(["-quiet", "-allowblank", "-quality", "100"])
                .arg(format!("127.0.0.1:{display}"))
                .arg(&picture),
            Duration::from_secs(60),
        );
    let _ = vx86.kill();
    let _ = vx86.wait();
    assert!(finished, "the demo guest did not finish");
    assert!(took, "vncsnapshot failed");
    let jpeg = std::fs::read(&picture).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut decoder = jpeg_decoder::Decoder::new(&jpeg[..]);
    let pixels = decoder.decode().expect("a JPEG");
    let info = decoder.info().unwrap();
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    // The screen vx86 served is the one the same guest leaves in a machine built here.
    let served = demo_final_screen();
    assert_eq!(
        (usize::from(info.width), usize::from(info.height)),
        (served.width, served.height)
    );
    assert_pictures_agree(&pixels, &served);
}

/// The screen the demo guest leaves when it powers off, published by a machine built in this process as vx86
/// builds it.
fn demo_final_screen() -> Frame {
    let (_tx, rx) = crossbeam_channel::unbounded();
    let shared = SharedFrame::new();
    let config = vx86_machine::VmConfig {
        ide: [
            Some(vx86_devices::IdeDevice::Disk(Box::new(
                vx86_devices::MemDisk::new(vx86_firmware::demo::disk_image()),
            ))),
            None,
            None,
            None,
        ],
        display: Some(vx86_machine::display::DisplayLink {
            frame: shared.clone(),
            input: rx,
            text: None,
        }),
        ..vx86_machine::VmConfig::new(32 << 20, vx86_firmware::bios::image())
    };
    let mut vm = vx86_machine::Vm::new(config).expect("machine builds");
    assert_eq!(vm.run().0, vx86_machine::Outcome::PowerOff);
    Arc::unwrap_or_clone(shared.latest().1)
}

/// Checks a decoded JPEG (RGB, row by row) against `frame` within JPEG's error: small on average, and no 8x8
/// block far off (a missing glyph or a wrong colour would be).
fn assert_pictures_agree(rgb: &[u8], frame: &Frame) {
    assert_eq!(rgb.len(), frame.width * frame.height * 3);
    let diff = |x: usize, y: usize| -> u32 {
        let p = frame.pixel(x, y);
        let k = (y * frame.width + x) * 3;
        (0..3)
            .map(|c| (i32::from(rgb[k + c]) - ((p >> (16 - 8 * c)) & 0xFF) as i32).unsigned_abs())
            .sum()
    };
    let mut total = 0u64;
    for by in (0..frame.height).step_by(8) {
        for bx in (0..frame.width).step_by(8) {
            let (w, h) = (8.min(frame.width - bx), 8.min(frame.height - by));
            let block: u32 = (by..by + h)
                .flat_map(|y| (bx..bx + w).map(move |x| (x, y)))
                .map(|(x, y)| diff(x, y))
                .sum();
            total += u64::from(block);
            let mean = block as f64 / (w * h * 3) as f64;
            assert!(
                mean < 32.0,
                "the 8x8 block at ({bx}, {by}) is off by {mean:.1} on average"
            );
        }
    }
    let mean = total as f64 / rgb.len() as f64;
    assert!(mean < 3.0, "the picture is off by {mean:.2} on average");
}

#[test]
fn a_machine_publishes_its_screen_at_once_and_its_run_loop_takes_display_input() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = SharedFrame::new();
    let config = vx86_machine::VmConfig {
        display: Some(vx86_machine::display::DisplayLink {
            frame: shared.clone(),
            input: rx,
            text: None,
        }),
        instruction_limit: Some(200_000),
        ..vx86_machine::VmConfig::new(32 << 20, vx86_firmware::bios::image())
    };
    let mut vm = vx86_machine::Vm::new(config).expect("machine builds");
    let (generation, frame) = shared.latest();
    assert_eq!(generation, 1, "published before the guest runs");
    // The VGA at power-on: mode 3, 80x25 characters of 9x16 pixels, and nothing written yet.
    assert_eq!(*frame, Frame::new(720, 400));
    tx.send(InputEvent::Key {
        scancode: 0x1C,
        down: true,
    })
    .unwrap();
    assert_eq!(tx.len(), 1);
    vm.run();
    assert!(tx.is_empty(), "the run loop handed the key to the i8042");
}

#[test]
fn bad_vnc_addresses_give_one_clear_line_and_status_2() {
    for (spec, message) in [
        ("5901", "invalid -vnc '5901'"),
        (":1,password=on", "invalid -vnc"),
        // An address no interface of this host has (TEST-NET-1).
        ("192.0.2.1:0", "-vnc: cannot listen on 192.0.2.1:5900"),
    ] {
        let out = common::vx86()
            .args(["-serial", "none", "-vnc", spec])
            .output()
            .unwrap();
        let err = common::stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
        assert!(err.contains(message), "{spec}: {err}");
        assert!(!err.contains("panicked"), "{spec}: {err}");
    }
}

#[test]
fn random_client_bytes_never_panic_a_server_thread() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SERVER_PANICKED: AtomicBool = AtomicBool::new(false);
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let name = std::thread::current().name().unwrap_or("").to_string();
        if name.starts_with("vnc") {
            SERVER_PANICKED.store(true, Ordering::SeqCst);
        }
        report(info);
    }));
    let frame = pattern(70, 40, 6);
    let (addr, shared, _input) = server(frame.clone());
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let opened = round % 2 == 0;
        let mut stream = if opened {
            Client::connect(addr).stream
        } else {
            TcpStream::connect(addr).unwrap()
        };
        // Well-formed messages of every type with random contents, then anything at all.
        let mut bytes = Vec::new();
        for _ in 0..random() % 12 {
            let kind = random() % 7;
            let body = match kind {
                0 => 19,
                2 => 3,
                3 => 9,
                4 => 7,
                5 => 5,
                6 => 7,
                _ => 0,
            };
            bytes.push(kind as u8);
            let start = bytes.len();
            bytes.extend((0..body).map(|_| random() as u8));
            match kind {
                0 => bytes[start + 7] = 1, // mostly true colour, with random sizes and fields
                2 => {
                    let count = random() % 8;
                    bytes[start + 1..start + 3].copy_from_slice(&(count as u16).to_be_bytes());
                    bytes.extend((0..count * 4).map(|_| random() as u8));
                }
                6 => {
                    let len = random() % 16;
                    bytes[start + 3..start + 7].copy_from_slice(&(len as u32).to_be_bytes());
                    bytes.extend((0..len).map(|_| random() as u8));
                }
                _ => {}
            }
        }
        bytes.extend((0..random() % 64).map(|_| random() as u8));
        let _ = stream.write_all(&bytes);
        if round % 10 == 0 {
            shared.publish(pattern(
                1 + random() as usize % 90,
                1 + random() as usize % 60,
                round,
            ));
        }
    }
    shared.publish(frame.clone());
    let mut good = Client::connect(addr);
    good.request_all(false);
    assert_rect_matches(&good.read_update()[0], &frame, NATIVE);
    // Sessions still running on the garbage get a moment to read it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !SERVER_PANICKED.load(Ordering::SeqCst),
        "a server thread panicked"
    );
}
