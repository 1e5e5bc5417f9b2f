//! The RFB opening: protocol version (3.8 offered; 3.3 and 3.7 clients served), security type None, ClientInit and
//! ServerInit with the frame's size and the server's pixel format.

use super::protocol::PixelFormat;
use std::io::{self, Read, Write};

/// The version the server offers.
const SERVER_VERSION: &[u8; 12] = b"RFB 003.008\n";
/// Security type None.
const SECURITY_NONE: u8 = 1;
/// SecurityResult: OK.
const SECURITY_OK: u32 = 0;
/// SecurityResult: failed.
const SECURITY_FAILED: u32 = 1;

/// The protocol versions served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// 3.3: the server picks the security type; no SecurityResult for None.
    V3_3,
    /// 3.7: the client picks; no SecurityResult for None.
    V3_7,
    /// 3.8: the client picks; a SecurityResult always.
    V3_8,
}

/// Why an opening failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The connection failed or closed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The client's version string is not `RFB xxx.yyy\n`.
    #[error("not an RFB client (version string {0:?})")]
    NotRfb(String),
    /// A major version other than 3.
    #[error("RFB version {0}.{1} is not served")]
    Version(u32, u32),
    /// The client chose a security type the server did not offer.
    #[error("the client chose security type {0}; only None (1) is offered")]
    Security(u8),
}

/// Parses the client's `RFB xxx.yyy\n` into the version served: an unknown minor below 7 means 3.3 (as RFC 6143
/// asks), 3.8 and later mean 3.8 (Apple's 3.889 included).
fn parse_version(b: &[u8; 12]) -> Result<Version, HandshakeError> {
    let text = String::from_utf8_lossy(b).into_owned();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = std::str::from_utf8(&b[r]).ok()?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (Some(major), Some(minor)) = (digits(4..7), digits(8..11)) else {
        return Err(HandshakeError::NotRfb(text));
    };
    if &b[..4] != b"RFB " || b[7] != b'.' || b[11] != b'\n' {
        return Err(HandshakeError::NotRfb(text));
    }
    match (major, minor) {
        (3, 0..=6) => Ok(Version::V3_3),
        (3, 7) => Ok(Version::V3_7),
        (3, _) => Ok(Version::V3_8),
        _ => Err(HandshakeError::Version(major, minor)),
    }
}

/// Runs the opening on `stream` up to and including ServerInit for a `width` x `height` framebuffer named `name`;
/// returns the version agreed.
pub fn serve<S: Read + Write>(
    stream: &mut S,
    width: usize,
    height: usize,
    name: &str,
) -> Result<Version, HandshakeError> {
    stream.write_all(SERVER_VERSION)?;
    let mut client_version = [0u8; 12];
    stream.read_exact(&mut client_version)?;
    let version = parse_version(&client_version)?;
    if version == Version::V3_3 {
        stream.write_all(&u32::from(SECURITY_NONE).to_be_bytes())?;
    } else {
        stream.write_all(&[1, SECURITY_NONE])?;
        let mut chosen = [0u8; 1];
        stream.read_exact(&mut chosen)?;
        if chosen[0] != SECURITY_NONE {
            if version == Version::V3_8 {
                let reason = b"only security type None is offered";
                stream.write_all(&SECURITY_FAILED.to_be_bytes())?;
                stream.write_all(&(reason.len() as u32).to_be_bytes())?;
                stream.write_all(reason)?;
            }
            return Err(HandshakeError::Security(chosen[0]));
        }
        if version == Version::V3_8 {
            stream.write_all(&SECURITY_OK.to_be_bytes())?;
        }
    }
    let mut shared_flag = [0u8; 1];
    stream.read_exact(&mut shared_flag)?; // every client shares the one screen
    let mut init = Vec::with_capacity(24 + name.len());
    init.extend_from_slice(&wire_u16(width).to_be_bytes());
    init.extend_from_slice(&wire_u16(height).to_be_bytes());
    init.extend_from_slice(&PixelFormat::NATIVE.to_bytes());
    init.extend_from_slice(&(name.len() as u32).to_be_bytes());
    init.extend_from_slice(name.as_bytes());
    stream.write_all(&init)?;
    Ok(version)
}

/// A size as RFB's 16-bit field (frames are far smaller; a larger one is cut).
pub fn wire_u16(v: usize) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_as_rfc_6143_says() {
        assert_eq!(parse_version(b"RFB 003.008\n").unwrap(), Version::V3_8);
        assert_eq!(parse_version(b"RFB 003.889\n").unwrap(), Version::V3_8);
        assert_eq!(parse_version(b"RFB 003.007\n").unwrap(), Version::V3_7);
        assert_eq!(parse_version(b"RFB 003.005\n").unwrap(), Version::V3_3);
        assert!(matches!(
            parse_version(b"RFB 004.000\n"),
            Err(HandshakeError::Version(4, 0))
        ));
        assert!(matches!(
            parse_version(b"GET / HTTP/1"),
            Err(HandshakeError::NotRfb(_))
        ));
        assert!(matches!(
            parse_version(b"RFB 00+.008\n"),
            Err(HandshakeError::NotRfb(_))
        ));
    }
}
