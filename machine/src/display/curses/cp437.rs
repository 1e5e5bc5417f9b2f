//! Code page 437, the PC's character set in text mode: each byte's Unicode character, so a terminal shows the
//! glyph the VGA's font would draw (box drawing, accented letters, symbols).

/// The Unicode characters of bytes 0x80-0xFF.
const HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{A0}',
];

/// The Unicode characters of bytes 0x00-0x1F (the PC draws symbols there, not control characters; 0 is blank).
const LOW: [char; 32] = [
    ' ', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼', //
    '►', '◄', '↕', '‼', '¶', '§', '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼',
];

/// The character code page 437 draws for `byte`.
pub fn to_char(byte: u8) -> char {
    match byte {
        0x00..=0x1F => LOW[usize::from(byte)],
        0x7F => '⌂',
        0x20..=0x7E => char::from(byte),
        0x80..=0xFF => HIGH[usize::from(byte - 0x80)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_itself_and_the_pc_symbols_and_box_drawing_map_to_unicode() {
        assert_eq!(to_char(b'A'), 'A');
        assert_eq!(to_char(b'~'), '~');
        assert_eq!(to_char(0), ' ');
        assert_eq!(to_char(1), '☺');
        assert_eq!(to_char(0xB3), '│');
        assert_eq!(to_char(0xC9), '╔');
        assert_eq!(to_char(0xDB), '█');
        assert_eq!(to_char(0xE1), 'ß');
        assert_eq!(to_char(0xFE), '■');
    }
}
