//! Page-table walkers: 32-bit paging (4 KiB and 4 MiB pages) and PAE paging (4 KiB and 2 MiB pages, NX).
//!
//! One walker per mode behind `Cpu::walk`; the walk sets accessed and dirty bits as the hardware does and reports
//! a `#PF` with the architectural error code.

use super::tlb;
use super::Access;
use crate::bus::Bus;
use crate::fault::{pf, Fault};
use crate::state::{cr0, cr4, efer};
use crate::Cpu;

pub(super) const P: u64 = 1 << 0;
pub(super) const RW: u64 = 1 << 1;
pub(super) const US: u64 = 1 << 2;
const A: u64 = 1 << 5;
const D: u64 = 1 << 6;
pub(super) const PS: u64 = 1 << 7;
const G: u64 = 1 << 8;
pub(super) const NX: u64 = 1 << 63;
/// Physical-address bits we model (MAXPHYADDR = 36, like a Pentium Pro with PAE).
pub(super) const PHYS_MASK: u64 = (1 << 36) - 1;

/// Result of a successful walk.
pub struct Translation {
    /// Physical address of the page (4 KiB aligned, covering the accessed address).
    pub phys_page: u64,
    /// TLB flags for the page.
    pub flags: u8,
}

impl Cpu {
    /// Walks the page tables for `linear`, checking `access` at privilege `user`, setting A/D bits.
    pub(crate) fn walk<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        access: Access,
        user: bool,
    ) -> Result<Translation, Fault> {
        if self.state.long_mode() {
            self.walk_long(bus, linear, access, user)
        } else if self.state.cr4 & cr4::PAE != 0 {
            self.walk_pae(bus, linear, access, user)
        } else {
            self.walk_32(bus, linear, access, user)
        }
    }

    fn walk_32<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        access: Access,
        user: bool,
    ) -> Result<Translation, Fault> {
        let linear = linear & 0xFFFF_FFFF;
        let nx = false;
        let pde_addr = (self.state.cr3 & 0xFFFF_F000) + ((linear >> 22) << 2);
        let pde = u64::from(self.phys_read_u32(bus, pde_addr));
        if pde & P == 0 {
            return Err(page_fault(linear, 0, access, user, nx));
        }
        if pde & PS != 0 && self.state.cr4 & cr4::PSE != 0 {
            let flags = self.check_rights(linear, pde, pde, access, user, false)?;
            self.set_accessed_dirty(bus, pde_addr, pde, true, access);
            let phys = (pde & 0xFFC0_0000) | (linear & 0x003F_F000);
            return Ok(Translation {
                phys_page: phys,
                flags: flags | tlb::LARGE | global_flag(pde, self.state.cr4),
            });
        }
        let pte_addr = (pde & 0xFFFF_F000) + (((linear >> 12) & 0x3FF) << 2);
        let pte = u64::from(self.phys_read_u32(bus, pte_addr));
        if pte & P == 0 {
            return Err(page_fault(linear, 0, access, user, nx));
        }
        let flags = self.check_rights(linear, pde & pte, pte, access, user, false)?;
        self.set_accessed_dirty(bus, pde_addr, pde, false, access);
        self.set_accessed_dirty(bus, pte_addr, pte, true, access);
        Ok(Translation {
            phys_page: pte & 0xFFFF_F000,
            flags: flags | global_flag(pte, self.state.cr4),
        })
    }

    fn walk_pae<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        access: Access,
        user: bool,
    ) -> Result<Translation, Fault> {
        let linear = linear & 0xFFFF_FFFF;
        let nxe = self.state.efer & efer::NXE != 0;
        let fault = |bits| page_fault(linear, bits, access, user, nxe);
        let reserved = reserved_mask(nxe);
        let pdpte_addr = (self.state.cr3 & 0xFFFF_FFE0) + ((linear >> 30) << 3);
        // PDPTE bits 1, 2, 5-8 and 63 are reserved in PAE mode.
        let pdpte = self
            .read_pae_entry(bus, pdpte_addr, reserved | 0x1E6 | NX)
            .map_err(fault)?;
        let pde_addr = (pdpte & PHYS_MASK & !0xFFF) + (((linear >> 21) & 0x1FF) << 3);
        let pde = self
            .read_pae_entry(bus, pde_addr, reserved)
            .map_err(fault)?;
        if pde & PS != 0 {
            if pde & 0x001F_E000 != 0 {
                return Err(fault(pf::PRESENT | pf::RESERVED));
            }
            let flags = self.check_rights(linear, pde, pde, access, user, nxe)?;
            self.set_accessed_dirty(bus, pde_addr, pde, true, access);
            let phys = (pde & PHYS_MASK & !0x1F_FFFF) | (linear & 0x001F_F000);
            return Ok(Translation {
                phys_page: phys,
                flags: flags | tlb::LARGE | global_flag(pde, self.state.cr4),
            });
        }
        let pte_addr = (pde & PHYS_MASK & !0xFFF) + (((linear >> 12) & 0x1FF) << 3);
        let pte = self
            .read_pae_entry(bus, pte_addr, reserved)
            .map_err(fault)?;
        // NX is the OR over levels; U/S and R/W are the AND.
        let combined = (pde & pte & (US | RW)) | ((pde | pte) & NX);
        let flags = self.check_rights(linear, combined, pte, access, user, nxe)?;
        self.set_accessed_dirty(bus, pde_addr, pde, false, access);
        self.set_accessed_dirty(bus, pte_addr, pte, true, access);
        Ok(Translation {
            phys_page: pte & PHYS_MASK & !0xFFF,
            flags: flags | global_flag(pte, self.state.cr4),
        })
    }

    /// Reads a PAE page-directory or page-table entry; `Err` holds the #PF error bits for a not-present entry (0)
    /// or one with reserved bits set.
    pub(super) fn read_pae_entry<B: Bus>(
        &mut self,
        bus: &mut B,
        addr: u64,
        reserved: u64,
    ) -> Result<u64, u32> {
        let entry = self.phys_read_u64(bus, addr);
        if entry & P == 0 {
            return Err(0);
        }
        if entry & reserved != 0 {
            return Err(pf::PRESENT | pf::RESERVED);
        }
        Ok(entry)
    }

    /// Checks the combined U/S, R/W and NX rights against the access and returns the TLB flags.
    pub(super) fn check_rights(
        &self,
        linear: u64,
        combined: u64,
        leaf: u64,
        access: Access,
        user: bool,
        nxe: bool,
    ) -> Result<u8, Fault> {
        let mut flags = 0;
        if combined & US != 0 {
            flags |= tlb::USER;
        }
        if combined & RW != 0 {
            flags |= tlb::WRITABLE;
        }
        if nxe && combined & NX != 0 {
            flags |= tlb::NO_EXEC;
        }
        if leaf & D != 0 || access == Access::Write {
            flags |= tlb::DIRTY;
        }
        if !rights_allow(flags, access, user, self.state.cr0 & cr0::WP != 0) {
            return Err(page_fault(linear, pf::PRESENT, access, user, nxe));
        }
        Ok(flags)
    }

    /// Sets the accessed bit (and dirty on a leaf written to); both live in the low dword of either entry size.
    pub(super) fn set_accessed_dirty<B: Bus>(
        &mut self,
        bus: &mut B,
        addr: u64,
        entry: u64,
        leaf: bool,
        access: Access,
    ) {
        let mut new = entry | A;
        if leaf && access == Access::Write {
            new |= D;
        }
        if new != entry {
            self.phys_write_u32(bus, addr, new as u32);
        }
    }
}

/// Whether TLB `flags` allow `access` at the given privilege (supervisor writes honour CR0.WP).
pub fn rights_allow(flags: u8, access: Access, user: bool, wp: bool) -> bool {
    if user && flags & tlb::USER == 0 {
        return false;
    }
    match access {
        Access::Read => true,
        Access::Write => flags & tlb::WRITABLE != 0 || (!user && !wp),
        Access::Fetch => flags & tlb::NO_EXEC == 0,
    }
}

pub(super) fn reserved_mask(nxe: bool) -> u64 {
    let high = !PHYS_MASK & !NX & 0xFFFF_FFFF_FFFF_F000;
    if nxe {
        high
    } else {
        high | NX
    }
}

pub(super) fn global_flag(leaf: u64, cr4_value: u64) -> u8 {
    if leaf & G != 0 && cr4_value & cr4::PGE != 0 {
        tlb::GLOBAL
    } else {
        0
    }
}

/// Builds the `#PF` for an access, adding the W/R, U/S and I/D bits to `bits` (I/D only where NX exists, i.e. PAE
/// paging with EFER.NXE, as on Intel hardware without SMEP).
pub fn page_fault(linear: u64, bits: u32, access: Access, user: bool, nx_enabled: bool) -> Fault {
    let mut error = bits;
    if access == Access::Write {
        error |= pf::WRITE;
    }
    if user {
        error |= pf::USER;
    }
    if access == Access::Fetch && nx_enabled {
        error |= pf::FETCH;
    }
    Fault::PageFault {
        address: linear,
        error,
    }
}
