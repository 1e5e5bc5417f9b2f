//! X keysyms (what an RFB KeyEvent carries) to the PC keys (set 1 make codes, 0xE0xx for extended keys) of a US
//! keyboard. A shifted character names the key it is on: the client sends Shift as a key of its own.

/// The keys of the printable ASCII characters, from ' ' (0x20) to '~' (0x7E); 0: none.
const ASCII_KEYS: [u16; 95] = [
    0x39, 0x02, 0x28, 0x04, 0x05, 0x06, 0x08, 0x28, // space ! " # $ % & '
    0x0A, 0x0B, 0x09, 0x0D, 0x33, 0x0C, 0x34, 0x35, // ( ) * + , - . /
    0x0B, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // 0-7
    0x09, 0x0A, 0x27, 0x27, 0x33, 0x0D, 0x34, 0x35, // 8 9 : ; < = > ?
    0x03, 0x1E, 0x30, 0x2E, 0x20, 0x12, 0x21, 0x22, // @ A-G
    0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18, // H-O
    0x19, 0x10, 0x13, 0x1F, 0x14, 0x16, 0x2F, 0x11, // P-W
    0x2D, 0x15, 0x2C, 0x1A, 0x2B, 0x1B, 0x07, 0x0C, // X Y Z [ \ ] ^ _
    0x29, 0x1E, 0x30, 0x2E, 0x20, 0x12, 0x21, 0x22, // ` a-g
    0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31, 0x18, // h-o
    0x19, 0x10, 0x13, 0x1F, 0x14, 0x16, 0x2F, 0x11, // p-w
    0x2D, 0x15, 0x2C, 0x1A, 0x2B, 0x1B, 0x29, // x y z { | } ~
];

/// Keysym of F1; F2-F12 follow it.
const XK_F1: u32 = 0xFFBE;
/// Keysym of keypad 0; keypad 1-9 follow it.
const XK_KP_0: u32 = 0xFFB0;
/// The keypad's digit keys, 0-9.
const KEYPAD_DIGITS: [u16; 10] = [0x52, 0x4F, 0x50, 0x51, 0x4B, 0x4C, 0x4D, 0x47, 0x48, 0x49];

/// The PC key (set 1 make code, 0xE0xx for extended keys) of an X keysym, if the keyboard has it.
pub fn scancode(keysym: u32) -> Option<u16> {
    let code = match keysym {
        0x20..=0x7E => ASCII_KEYS[(keysym - 0x20) as usize],
        XK_F1..=0xFFC7 => 0x3B + (keysym - XK_F1) as u16, // F1-F10
        0xFFC8 => 0x57,                                   // F11
        0xFFC9 => 0x58,                                   // F12
        XK_KP_0..=0xFFB9 => KEYPAD_DIGITS[(keysym - XK_KP_0) as usize],
        0xFF08 => 0x0E,            // BackSpace
        0xFF09 => 0x0F,            // Tab
        0xFF0D => 0x1C,            // Return
        0xFF1B => 0x01,            // Escape
        0xFF14 => 0x46,            // Scroll_Lock
        0xFF50 => 0xE047,          // Home
        0xFF51 => 0xE04B,          // Left
        0xFF52 => 0xE048,          // Up
        0xFF53 => 0xE04D,          // Right
        0xFF54 => 0xE050,          // Down
        0xFF55 => 0xE049,          // Page_Up
        0xFF56 => 0xE051,          // Page_Down
        0xFF57 => 0xE04F,          // End
        0xFF63 => 0xE052,          // Insert
        0xFFFF => 0xE053,          // Delete
        0xFF67 => 0xE05D,          // Menu
        0xFF7F => 0x45,            // Num_Lock
        0xFF8D => 0xE01C,          // KP_Enter
        0xFFAA => 0x37,            // KP_Multiply
        0xFFAB => 0x4E,            // KP_Add
        0xFFAD => 0x4A,            // KP_Subtract
        0xFFAE => 0x53,            // KP_Decimal
        0xFFAF => 0xE035,          // KP_Divide
        0xFFE1 => 0x2A,            // Shift_L
        0xFFE2 => 0x36,            // Shift_R
        0xFFE3 => 0x1D,            // Control_L
        0xFFE4 => 0xE01D,          // Control_R
        0xFFE5 => 0x3A,            // Caps_Lock
        0xFFE7 | 0xFFE9 => 0x38,   // Meta_L, Alt_L
        0xFFE8 | 0xFFEA => 0xE038, // Meta_R, Alt_R
        0xFE03 => 0xE038,          // ISO_Level3_Shift (AltGr)
        0xFFEB => 0xE05B,          // Super_L
        0xFFEC => 0xE05C,          // Super_R
        _ => 0,
    };
    (code != 0).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_name_their_keys_whatever_the_shift() {
        assert_eq!(scancode(u32::from(b'a')), Some(0x1E));
        assert_eq!(scancode(u32::from(b'A')), Some(0x1E));
        assert_eq!(scancode(u32::from(b'z')), Some(0x2C));
        assert_eq!(scancode(u32::from(b'1')), Some(0x02));
        assert_eq!(scancode(u32::from(b'!')), Some(0x02));
        assert_eq!(scancode(u32::from(b'0')), Some(0x0B));
        assert_eq!(scancode(u32::from(b')')), Some(0x0B));
        assert_eq!(scancode(u32::from(b'?')), Some(0x35));
        assert_eq!(scancode(u32::from(b'~')), Some(0x29));
        assert_eq!(scancode(u32::from(b' ')), Some(0x39));
        // Upper and lower case letters agree everywhere.
        for c in b'a'..=b'z' {
            assert_eq!(
                scancode(u32::from(c)),
                scancode(u32::from(c.to_ascii_uppercase()))
            );
        }
    }

    #[test]
    fn control_keys_function_keys_and_the_cursor_block() {
        assert_eq!(scancode(0xFF0D), Some(0x1C));
        assert_eq!(scancode(0xFF08), Some(0x0E));
        assert_eq!(scancode(0xFFBE), Some(0x3B)); // F1
        assert_eq!(scancode(0xFFC7), Some(0x44)); // F10
        assert_eq!(scancode(0xFFC9), Some(0x58)); // F12
        assert_eq!(scancode(0xFF52), Some(0xE048));
        assert_eq!(scancode(0xFFFF), Some(0xE053));
        assert_eq!(scancode(0xFFE3), Some(0x1D));
        assert_eq!(scancode(0xFFB7), Some(0x47)); // keypad 7
        assert_eq!(scancode(0x20AC), None); // the euro sign
        assert_eq!(scancode(0x7F), None);
    }
}
