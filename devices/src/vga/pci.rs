//! The VGA as a PCI function, as QEMU's `pc` machine plugs its `std-vga`: 1234:1111, a VGA-compatible display
//! controller in slot 2, its video memory as a prefetchable memory BAR (the linear framebuffer).

use super::VRAM_SIZE;
use crate::pci::{Bar, BarKind, ConfigSpace, Identity, Slot};

/// 02.0, where QEMU's `pc` machine puts its VGA.
pub const VGA_SLOT: Slot = Slot {
    device: 2,
    function: 0,
};
/// The BAR holding the linear framebuffer.
pub const LFB_BAR: usize = 0;

/// The std-vga's configuration space (QEMU's IDs, revision 2), BAR 0 the 16 MiB linear framebuffer.
pub fn std_vga() -> ConfigSpace {
    let mut c = ConfigSpace::new(Identity {
        vendor: 0x1234,
        device: 0x1111,
        class: (0x03, 0x00, 0x00),
        revision: 0x02,
    });
    c.set_bar(
        LFB_BAR,
        Bar {
            kind: BarKind::PrefetchableMemory,
            size: VRAM_SIZE as u32,
        },
    );
    c
}
