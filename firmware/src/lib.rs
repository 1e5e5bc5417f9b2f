//! Guest-side code that vx86 ships: its own PC BIOS and the bundled demo guest.
//!
//! Both are assembled in Rust with iced-x86's `code_asm`, so building vx86 needs nothing but cargo.

pub mod bios;
pub mod demo;
