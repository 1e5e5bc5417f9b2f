//! The IA-32e (4-level) page walker: PML4 → PDPT (1 GiB pages) → PD (2 MiB pages) → PT (4 KiB pages), with NX and
//! 48-bit linear addresses (SDM vol. 3, 4.5).

use super::paging::{
    global_flag, page_fault, reserved_mask, Translation, NX, PHYS_MASK, PS, RW, US,
};
use super::tlb;
use super::Access;
use crate::bus::Bus;
use crate::fault::{pf, Fault};
use crate::state::efer;
use crate::Cpu;

/// Bits of a 1 GiB page entry that must be zero (between the PAT bit and the frame).
const HUGE_1G_RESERVED: u64 = 0x3FFF_E000;
/// Bits of a 2 MiB page entry that must be zero.
const HUGE_2M_RESERVED: u64 = 0x001F_E000;

impl Cpu {
    /// Walks the four-level tables for `linear`, checking `access` at privilege `user`.
    pub(crate) fn walk_long<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        access: Access,
        user: bool,
    ) -> Result<Translation, Fault> {
        let nxe = self.state.efer & efer::NXE != 0;
        let fault = |bits| page_fault(linear, bits, access, user, nxe);
        let reserved = reserved_mask(nxe);
        let table = |entry: u64| entry & PHYS_MASK & !0xFFF;
        let index = |level: u32| ((linear >> (12 + 9 * level)) & 0x1FF) << 3;

        let pml4e_addr = table(self.state.cr3) + index(3);
        let pml4e = self
            .read_pae_entry(bus, pml4e_addr, reserved | PS)
            .map_err(fault)?;
        let pdpte_addr = table(pml4e) + index(2);
        let pdpte = self
            .read_pae_entry(bus, pdpte_addr, reserved)
            .map_err(fault)?;
        // The entries walked, (address, value), on the stack: a walk runs on every TLB miss.
        let mut entries = [(pml4e_addr, pml4e), (pdpte_addr, pdpte), (0, 0), (0, 0)];
        let mut walked = 2;
        let (leaf, phys_page) = if pdpte & PS != 0 {
            if pdpte & HUGE_1G_RESERVED != 0 {
                return Err(fault(pf::PRESENT | pf::RESERVED));
            }
            (
                pdpte,
                (pdpte & PHYS_MASK & !0x3FFF_FFFF) | (linear & 0x3FFF_F000),
            )
        } else {
            let pde_addr = table(pdpte) + index(1);
            let pde = self
                .read_pae_entry(bus, pde_addr, reserved)
                .map_err(fault)?;
            entries[walked] = (pde_addr, pde);
            walked += 1;
            if pde & PS != 0 {
                if pde & HUGE_2M_RESERVED != 0 {
                    return Err(fault(pf::PRESENT | pf::RESERVED));
                }
                (pde, (pde & PHYS_MASK & !0x1F_FFFF) | (linear & 0x001F_F000))
            } else {
                let pte_addr = table(pde) + index(0);
                let pte = self
                    .read_pae_entry(bus, pte_addr, reserved)
                    .map_err(fault)?;
                entries[walked] = (pte_addr, pte);
                walked += 1;
                (pte, pte & PHYS_MASK & !0xFFF)
            }
        };
        // U/S and R/W are the AND over all levels, NX the OR.
        let entries = &entries[..walked];
        let and = entries.iter().fold(US | RW, |acc, (_, e)| acc & e);
        let or = entries.iter().fold(0, |acc, (_, e)| acc | e);
        let combined = (and & (US | RW)) | (or & NX);
        let mut flags = self.check_rights(linear, combined, leaf, access, user, nxe)?;
        let last = walked - 1;
        for (k, &(addr, entry)) in entries.iter().enumerate() {
            self.set_accessed_dirty(bus, addr, entry, k == last, access);
        }
        if leaf & PS != 0 {
            flags |= tlb::LARGE;
        }
        Ok(Translation {
            phys_page,
            flags: flags | global_flag(leaf, self.state.cr4),
        })
    }
}
