//! Screenshots: the VGA's picture as a PNG file (`-screenshot-on-exit FILE.png`), and back.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use vx86_devices::{Frame, PcDevices};

/// Why a screenshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ScreenshotError {
    /// The file could not be created or opened.
    #[error("cannot open {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What the host said.
        source: std::io::Error,
    },
    /// The PNG encoder or decoder failed (or the picture is empty).
    #[error("{path}: {message}")]
    Png {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// The screen as the VGA shows it now.
pub fn capture(devices: &mut PcDevices) -> Frame {
    let mut frame = Frame::default();
    devices.vga_mut().render(&mut frame);
    frame
}

/// Writes `frame` to `path` as an 8-bit RGB PNG.
pub fn write_png(frame: &Frame, path: &Path) -> Result<(), ScreenshotError> {
    let png_error = |message: String| ScreenshotError::Png {
        path: path.display().to_string(),
        message,
    };
    if frame.width == 0 || frame.height == 0 {
        return Err(png_error("the screen is empty (0x0)".to_string()));
    }
    let file = File::create(path).map_err(|source| ScreenshotError::File {
        path: path.display().to_string(),
        source,
    })?;
    let (width, height) = (
        u32::try_from(frame.width).map_err(|e| png_error(e.to_string()))?,
        u32::try_from(frame.height).map_err(|e| png_error(e.to_string()))?,
    );
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let rgb: Vec<u8> = frame
        .pixels
        .iter()
        .flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8])
        .collect();
    let mut writer = encoder
        .write_header()
        .map_err(|e| png_error(e.to_string()))?;
    writer
        .write_image_data(&rgb)
        .and_then(|()| writer.finish())
        .map_err(|e| png_error(e.to_string()))
}

/// Reads an 8-bit RGB or RGBA PNG (what [`write_png`] and most tools write) into a [`Frame`].
pub fn read_png(path: &Path) -> Result<Frame, ScreenshotError> {
    let png_error = |message: String| ScreenshotError::Png {
        path: path.display().to_string(),
        message,
    };
    let file = File::open(path).map_err(|source| ScreenshotError::File {
        path: path.display().to_string(),
        source,
    })?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| png_error(e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| png_error("the picture is too large".to_string()))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| png_error(e.to_string()))?;
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => return Err(png_error(format!("{other:?} pictures are not supported"))),
    };
    let mut frame = Frame::new(info.width as usize, info.height as usize);
    for (y, line) in buf.chunks(info.line_size).take(frame.height).enumerate() {
        for (x, px) in line.chunks_exact(channels).take(frame.width).enumerate() {
            frame.pixels[y * frame.width + x] =
                u32::from(px[0]) << 16 | u32::from(px[1]) << 8 | u32::from(px[2]);
        }
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_survives_a_round_trip_through_a_png_file() {
        let dir = std::env::temp_dir().join(format!("vx86-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.png");
        let mut f = Frame::new(3, 2);
        f.pixels = vec![0xFF_0000, 0x00_FF00, 0x00_00FF, 0x12_3456, 0, 0xFF_FFFF];
        write_png(&f, &path).unwrap();
        assert_eq!(read_png(&path).unwrap(), f);
        assert!(write_png(&Frame::default(), &path)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(write_png(&f, &dir.join("no/such/dir.png")).is_err());
        assert!(read_png(&dir.join("missing.png")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
