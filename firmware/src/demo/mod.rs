//! The bundled demo guest (work in progress).

/// Builds the demo guest's raw disk image (an MBR followed by the kernel).
pub fn disk_image() -> Vec<u8> {
    vec![0; 512]
}
