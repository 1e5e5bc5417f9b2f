//! The BIOS area 0xC0000-0xFFFFF as the i440FX host bridge's PAM registers route it: for each segment, reads and
//! writes go to the RAM underneath ("shadow RAM") or to the PCI side, where the BIOS ROM shows. Firmware such as
//! SeaBIOS copies itself into the shadow and then write-protects it.
//!
//! On the PCI side the board keeps what it had before it had a chipset: the BIOS ROM in its window below 1 MiB and
//! plain RAM elsewhere (the option-ROM area and, under a 64 KiB BIOS, the segment holding the ACPI tables), which
//! is what vx86's own BIOS and direct kernel boot expect at power-on.

use vx86_devices::pci::chipset::{pam_mode, PamMode};
use vx86_devices::pci::ConfigSpace;

/// First byte the PAM registers route.
pub const SHADOW_START: u64 = 0xC_0000;
/// End (exclusive) of the routed range.
pub const SHADOW_END: u64 = 0x10_0000;
/// Segments: 0xF0000-0xFFFFF as one, then 0xC0000-0xEFFFF in 16 KiB steps.
const SEGMENTS: usize = 13;

/// The PAM mode of each segment, and a generation that moves whenever one changes.
#[derive(Debug, Clone)]
pub struct Shadow {
    modes: [PamMode; SEGMENTS],
    generation: u64,
}

impl Default for Shadow {
    fn default() -> Self {
        Shadow {
            modes: [PamMode::Pci; SEGMENTS],
            generation: 0,
        }
    }
}

impl Shadow {
    /// The segment index of `paddr` (which must be in the routed range) and its first byte.
    fn segment(paddr: u64) -> (usize, u64) {
        if paddr >= 0xF_0000 {
            (0, 0xF_0000)
        } else {
            let k = ((paddr - SHADOW_START) >> 14) as usize;
            (1 + k, SHADOW_START + ((k as u64) << 14))
        }
    }

    /// How accesses to `paddr` (in the routed range) go.
    pub fn mode(&self, paddr: u64) -> PamMode {
        self.modes[Self::segment(paddr).0]
    }

    /// Takes the PAM registers of the host bridge's configuration space; true (and a new generation) if any
    /// segment's mode changed.
    pub fn update(&mut self, host_bridge: &ConfigSpace) -> bool {
        let mut modes = self.modes;
        for (k, mode) in modes.iter_mut().enumerate() {
            let base = if k == 0 {
                0xF_0000
            } else {
                SHADOW_START + ((k as u64 - 1) << 14)
            };
            debug_assert_eq!(Self::segment(base).0, k);
            *mode = pam_mode(host_bridge, base).unwrap_or(PamMode::Pci);
        }
        let changed = modes != self.modes;
        if changed {
            self.modes = modes;
            self.generation += 1;
        }
        changed
    }

    /// Moves whenever a segment's routing changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vx86_devices::pci::chipset::{host_bridge, PAM0};

    #[test]
    fn segments_follow_their_pam_nibbles_and_changes_move_the_generation() {
        let mut shadow = Shadow::default();
        let mut config = host_bridge();
        assert!(
            !shadow.update(&config),
            "power-on: everything on the PCI side"
        );
        config.write(PAM0, 1, 0x10);
        config.write(PAM0 + 1, 1, 0x32);
        assert!(shadow.update(&config));
        assert_eq!(shadow.generation(), 1);
        assert_eq!(shadow.mode(0xF_FFFF), PamMode::ReadOnly);
        assert_eq!(shadow.mode(0xC_0000), PamMode::WriteOnly);
        assert_eq!(shadow.mode(0xC_7FFF), PamMode::ReadWrite);
        assert_eq!(shadow.mode(0xC_8000), PamMode::Pci);
        assert!(!shadow.update(&config), "the same registers again");
        assert_eq!(shadow.generation(), 1);
    }
}
