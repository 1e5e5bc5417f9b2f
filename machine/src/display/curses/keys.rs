//! Keys typed in the terminal, as the PC keyboard's scan codes: the bytes a terminal sends (characters, control
//! characters, escape sequences for cursor and function keys) become key presses and releases in scan code set 1,
//! with Shift, Ctrl or Alt held around them where the character needs it.

use vx86_devices::InputEvent;

/// Set 1 make codes.
mod code {
    pub const ESCAPE: u16 = 0x01;
    pub const BACKSPACE: u16 = 0x0E;
    pub const TAB: u16 = 0x0F;
    pub const ENTER: u16 = 0x1C;
    pub const CTRL: u16 = 0x1D;
    pub const SHIFT: u16 = 0x2A;
    pub const ALT: u16 = 0x38;
    pub const SPACE: u16 = 0x39;
    pub const F1: u16 = 0x3B;
    pub const F11: u16 = 0x57;
    pub const F12: u16 = 0x58;
    pub const HOME: u16 = 0xE047;
    pub const UP: u16 = 0xE048;
    pub const PAGE_UP: u16 = 0xE049;
    pub const LEFT: u16 = 0xE04B;
    pub const RIGHT: u16 = 0xE04D;
    pub const END: u16 = 0xE04F;
    pub const DOWN: u16 = 0xE050;
    pub const PAGE_DOWN: u16 = 0xE051;
    pub const INSERT: u16 = 0xE052;
    pub const DELETE: u16 = 0xE053;
}

/// The keys of the US layout's main block, by row: each character unshifted and shifted, from its first make code.
const ROWS: [(u16, &str, &str); 4] = [
    (0x02, "1234567890-=", "!@#$%^&*()_+"),
    (0x10, "qwertyuiop[]", "QWERTYUIOP{}"),
    (0x1E, "asdfghjkl;'`", "ASDFGHJKL:\"~"),
    (0x2B, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
];

/// The make code of the key that types `c`, and whether Shift must be held.
fn printable(c: u8) -> Option<(u16, bool)> {
    if c == b' ' {
        return Some((code::SPACE, false));
    }
    ROWS.iter().find_map(|&(first, plain, shifted)| {
        let at = |s: &str| s.bytes().position(|b| b == c);
        at(plain)
            .map(|k| (first + k as u16, false))
            .or_else(|| at(shifted).map(|k| (first + k as u16, true)))
    })
}

/// The key events for one read from the terminal (a sequence split across two reads is taken as its parts).
pub fn decode(bytes: &[u8]) -> Vec<InputEvent> {
    let mut events = Vec::new();
    let mut rest = bytes;
    while let Some((&first, after)) = rest.split_first() {
        rest = after;
        if first == 0x1B {
            if let Some((key, used)) = escape_sequence(rest) {
                tap(&mut events, key, None);
                rest = &rest[used..];
                continue;
            }
            // ESC and a character is Alt with it; ESC alone is the Escape key.
            if let Some((&c, after)) = rest.split_first() {
                if let Some((key, shift)) = character(c) {
                    let mut held = vec![code::ALT];
                    held.extend(shift);
                    press_with(&mut events, &held, key);
                    rest = after;
                    continue;
                }
            }
            tap(&mut events, code::ESCAPE, None);
            continue;
        }
        if let Some((key, modifier)) = character(first) {
            tap(&mut events, key, modifier);
        }
    }
    events
}

/// The key for a byte the terminal sends for itself: (make code, the modifier to hold).
fn character(c: u8) -> Option<(u16, Option<u16>)> {
    match c {
        b'\r' | b'\n' => Some((code::ENTER, None)),
        b'\t' => Some((code::TAB, None)),
        0x08 | 0x7F => Some((code::BACKSPACE, None)),
        0x01..=0x1A => printable(c - 1 + b'a').map(|(k, _)| (k, Some(code::CTRL))),
        _ => printable(c).map(|(k, shift)| (k, shift.then_some(code::SHIFT))),
    }
}

/// The key an escape sequence (after its ESC) names, and how many bytes it took.
fn escape_sequence(s: &[u8]) -> Option<(u16, usize)> {
    let (&kind, body) = s.split_first()?;
    match kind {
        b'O' => {
            let key = match *body.first()? {
                b'A' => code::UP,
                b'B' => code::DOWN,
                b'C' => code::RIGHT,
                b'D' => code::LEFT,
                b'H' => code::HOME,
                b'F' => code::END,
                f @ b'P'..=b'S' => code::F1 + u16::from(f - b'P'),
                _ => return None,
            };
            Some((key, 2))
        }
        b'[' => {
            let letter = match *body.first()? {
                b'A' => Some(code::UP),
                b'B' => Some(code::DOWN),
                b'C' => Some(code::RIGHT),
                b'D' => Some(code::LEFT),
                b'H' => Some(code::HOME),
                b'F' => Some(code::END),
                _ => None,
            };
            if let Some(key) = letter {
                return Some((key, 2));
            }
            // ESC [ number ~
            let digits = body.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || body.get(digits) != Some(&b'~') {
                return None;
            }
            let n: u32 = std::str::from_utf8(&body[..digits]).ok()?.parse().ok()?;
            let key = match n {
                1 | 7 => code::HOME,
                2 => code::INSERT,
                3 => code::DELETE,
                4 | 8 => code::END,
                5 => code::PAGE_UP,
                6 => code::PAGE_DOWN,
                11..=15 => code::F1 + (n - 11) as u16,
                17..=21 => code::F1 + 5 + (n - 17) as u16,
                23 => code::F11,
                24 => code::F12,
                _ => return None,
            };
            Some((key, 1 + digits + 1))
        }
        _ => None,
    }
}

fn key(events: &mut Vec<InputEvent>, scancode: u16, down: bool) {
    events.push(InputEvent::Key { scancode, down });
}

/// Presses and releases `scancode`, holding `modifier` around it.
fn tap(events: &mut Vec<InputEvent>, scancode: u16, modifier: Option<u16>) {
    press_with(events, modifier.as_slice(), scancode);
}

/// Presses `held` in order, taps `scancode`, releases `held` in reverse.
fn press_with(events: &mut Vec<InputEvent>, held: &[u16], scancode: u16) {
    for &m in held {
        key(events, m, true);
    }
    key(events, scancode, true);
    key(events, scancode, false);
    for &m in held.iter().rev() {
        key(events, m, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<(u16, bool)> {
        decode(bytes)
            .into_iter()
            .map(|e| match e {
                InputEvent::Key { scancode, down } => (scancode, down),
                other => panic!("not a key: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn letters_digits_and_symbols_are_their_keys_with_shift_where_needed() {
        assert_eq!(keys(b"a"), [(0x1E, true), (0x1E, false)]);
        assert_eq!(keys(b"1"), [(0x02, true), (0x02, false)]);
        assert_eq!(
            keys(b"A"),
            [(0x2A, true), (0x1E, true), (0x1E, false), (0x2A, false)]
        );
        assert_eq!(keys(b"?")[1], (0x35, true));
        assert_eq!(keys(b"|")[1], (0x2B, true));
        assert_eq!(
            keys(b" \r\t\x7f"),
            [
                (0x39, true),
                (0x39, false),
                (0x1C, true),
                (0x1C, false),
                (0x0F, true),
                (0x0F, false),
                (0x0E, true),
                (0x0E, false)
            ]
        );
    }

    #[test]
    fn control_characters_hold_ctrl_and_escape_sequences_are_cursor_and_function_keys() {
        assert_eq!(
            keys(b"\x03"),
            [(0x1D, true), (0x2E, true), (0x2E, false), (0x1D, false)],
            "Ctrl-C"
        );
        assert_eq!(keys(b"\x1b[A"), [(0xE048, true), (0xE048, false)]);
        assert_eq!(keys(b"\x1bOP")[0], (0x3B, true), "F1");
        assert_eq!(keys(b"\x1b[15~")[0], (0x3F, true), "F5");
        assert_eq!(keys(b"\x1b[24~")[0], (0x58, true), "F12");
        assert_eq!(keys(b"\x1b[3~")[0], (0xE053, true), "Delete");
        assert_eq!(keys(b"\x1b"), [(0x01, true), (0x01, false)], "Escape alone");
        assert_eq!(
            keys(b"\x1bx"),
            [(0x38, true), (0x2D, true), (0x2D, false), (0x38, false)],
            "Alt-x"
        );
        assert_eq!(keys(b"\x1b[A\x1b[Bq").len(), 6);
    }
}
