//! PC keyboard scan codes: set 1 (what the i8042 hands the CPU when it translates, and what
//! [`crate::InputEvent::Key`] carries) and set 2 (what an AT keyboard sends on the wire, and what the CPU sees when
//! the controller's translation is off).

/// Prefix byte of the extended keys (cursor block, right Ctrl/Alt, keypad Enter and slash, the Windows keys).
pub const EXTENDED: u8 = 0xE0;
/// Set 2 prefix of a key release.
pub const SET2_BREAK: u8 = 0xF0;
/// Set 1 flag of a key release (added to the make code).
pub const SET1_BREAK: u8 = 0x80;

/// Set 2 make code for each set 1 make code 0x00-0x5D (0: no key). Extended keys use the same set 2 code as the
/// set 1 key they share a make code with (E0 48 up is E0 75, as keypad 8 is 75), except the Windows keys.
const SET1_TO_SET2: [u8; 0x5E] = [
    0x00, 0x76, 0x16, 0x1E, 0x26, 0x25, 0x2E, 0x36, // 00-07: -, Esc, 1-6
    0x3D, 0x3E, 0x46, 0x45, 0x4E, 0x55, 0x66, 0x0D, // 08-0F: 7-0, -, =, Backspace, Tab
    0x15, 0x1D, 0x24, 0x2D, 0x2C, 0x35, 0x3C, 0x43, // 10-17: Q W E R T Y U I
    0x44, 0x4D, 0x54, 0x5B, 0x5A, 0x14, 0x1C, 0x1B, // 18-1F: O P [ ] Enter LCtrl A S
    0x23, 0x2B, 0x34, 0x33, 0x3B, 0x42, 0x4B, 0x4C, // 20-27: D F G H J K L ;
    0x52, 0x0E, 0x12, 0x5D, 0x1A, 0x22, 0x21, 0x2A, // 28-2F: ' ` LShift \ Z X C V
    0x32, 0x31, 0x3A, 0x41, 0x49, 0x4A, 0x59, 0x7C, // 30-37: B N M , . / RShift KP*
    0x11, 0x29, 0x58, 0x05, 0x06, 0x04, 0x0C, 0x03, // 38-3F: LAlt Space Caps F1-F5
    0x0B, 0x83, 0x0A, 0x01, 0x09, 0x77, 0x7E, 0x6C, // 40-47: F6-F10 NumLock ScrollLock KP7
    0x75, 0x7D, 0x7B, 0x6B, 0x73, 0x74, 0x79, 0x69, // 48-4F: KP8 KP9 KP- KP4 KP5 KP6 KP+ KP1
    0x72, 0x7A, 0x70, 0x71, 0x84, 0x00, 0x61,
    0x78, // 50-57: KP2 KP3 KP0 KP. SysRq - 102nd F11
    0x07, 0x00, 0x00, 0x1F, 0x27, 0x2F, // 58-5D: F12 - - LWin RWin Menu (extended only)
];

/// The set 1 bytes of a key going down or up: `scancode` is a set 1 make code, 0xE0xx for an extended key.
pub fn set1_bytes(scancode: u16, down: bool) -> Vec<u8> {
    let code = scancode as u8 & !SET1_BREAK;
    let last = if down { code } else { code | SET1_BREAK };
    if scancode >> 8 == u16::from(EXTENDED) {
        vec![EXTENDED, last]
    } else {
        vec![last]
    }
}

/// The set 2 bytes of the same key, or `None` for a set 1 code with no set 2 equivalent here.
pub fn set2_bytes(scancode: u16, down: bool) -> Option<Vec<u8>> {
    let code = *SET1_TO_SET2.get(usize::from(scancode as u8 & !SET1_BREAK))?;
    if code == 0 {
        return None;
    }
    let mut bytes = Vec::with_capacity(3);
    if scancode >> 8 == u16::from(EXTENDED) {
        bytes.push(EXTENDED);
    }
    if !down {
        bytes.push(SET2_BREAK);
    }
    bytes.push(code);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set1_release_adds_0x80_and_extended_keys_keep_their_prefix() {
        assert_eq!(set1_bytes(0x1E, true), [0x1E]);
        assert_eq!(set1_bytes(0x1E, false), [0x9E]);
        assert_eq!(set1_bytes(0xE048, true), [0xE0, 0x48]);
        assert_eq!(set1_bytes(0xE048, false), [0xE0, 0xC8]);
    }

    #[test]
    fn set2_codes_of_common_keys() {
        assert_eq!(set2_bytes(0x1E, true), Some(vec![0x1C])); // A
        assert_eq!(set2_bytes(0x1E, false), Some(vec![0xF0, 0x1C]));
        assert_eq!(set2_bytes(0x1C, true), Some(vec![0x5A])); // Enter
        assert_eq!(set2_bytes(0x01, true), Some(vec![0x76])); // Esc
        assert_eq!(set2_bytes(0x58, true), Some(vec![0x07])); // F12
        assert_eq!(set2_bytes(0xE048, false), Some(vec![0xE0, 0xF0, 0x75])); // up
        assert_eq!(set2_bytes(0xE05B, true), Some(vec![0xE0, 0x1F])); // left Windows
        assert_eq!(set2_bytes(0x55, true), None);
        assert_eq!(set2_bytes(0x7F, true), None);
    }

    #[test]
    fn no_two_keys_share_a_set2_code() {
        let mut seen = std::collections::HashSet::new();
        for &code in SET1_TO_SET2.iter().filter(|&&c| c != 0) {
            assert!(seen.insert(code), "set 2 code {code:#x} appears twice");
        }
    }
}
