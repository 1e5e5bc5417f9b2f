//! Guest-side code that vx86 ships: its own PC BIOS, the bundled demo guest, and the option ROM through which
//! SeaBIOS boots `-kernel`.
//!
//! All are assembled in Rust with iced-x86's `code_asm`, so building vx86 needs nothing but cargo.

pub mod bios;
pub mod demo;
pub mod linuxboot;
