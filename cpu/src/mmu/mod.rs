//! Memory management: segmentation checks, linear-to-physical translation through the soft TLB, and the guest
//! memory accessors every instruction uses.
//!
//! An access goes offset → (segment checks) → linear → (TLB, or a page walk on a miss) → physical → RAM/ROM slice or
//! MMIO. Faults are returned as values before anything is written, so instructions stay precise.

pub mod paging;
pub mod paging_long;
pub mod segment;
pub mod tlb;

use crate::bus::{Bus, PageBacking};
use crate::code_pages::{CodeWrite, MAX_TRACKED_PAGES};
use crate::fault::Fault;
use crate::Cpu;

/// Pages [`Cpu::take_written_code`] lists at most: past that, a write to code moves the TLB's epochs instead.
const WRITTEN_CODE_LIST: usize = 64;

/// The kind of memory access, for permission checks and page-fault error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Data read.
    Read,
    /// Data write.
    Write,
    /// Instruction fetch.
    Fetch,
}

impl Cpu {
    /// Translates a linear address to a physical one for `access`, at user privilege when `user`.
    #[inline]
    pub(crate) fn translate<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        access: Access,
        user: bool,
    ) -> Result<u64, Fault> {
        if let Some(e) = self.tlb.lookup(linear, user) {
            let wp = self.state.cr0 & crate::state::cr0::WP != 0;
            let dirty_ok = access != Access::Write || e.flags & tlb::DIRTY != 0;
            if dirty_ok && paging::rights_allow(e.flags, access, user, wp) {
                return Ok(e.phys | (linear & 0xFFF));
            }
        }
        self.translate_slow(bus, linear, access, user)
    }

    #[cold]
    fn translate_slow<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        access: Access,
        user: bool,
    ) -> Result<u64, Fault> {
        let (phys_page, flags) = if self.state.paging() {
            let t = self.walk(bus, linear, access, user)?;
            (t.phys_page, t.flags)
        } else {
            (
                linear & 0xFFFF_FFFF & !0xFFF,
                tlb::USER | tlb::WRITABLE | tlb::DIRTY,
            )
        };
        let phys_page = phys_page & self.a20_mask;
        let (flags, host) = match bus.backing(phys_page) {
            PageBacking::Ram(offset) => (flags, offset),
            PageBacking::Rom(offset) => (flags | tlb::ROM, offset),
            PageBacking::Mmio => (flags, tlb::NO_HOST),
        };
        let wp = self.state.cr0 & crate::state::cr0::WP != 0;
        let fast_write = flags & (tlb::ROM | tlb::DIRTY) == tlb::DIRTY
            && paging::rights_allow(flags, Access::Write, user, wp)
            && !self.code_pages.is_code(phys_page);
        let fill = tlb::Fill {
            linear,
            phys: phys_page,
            flags,
            host,
            host_base: bus.memory().as_ptr() as usize,
            fast_read: paging::rights_allow(flags, Access::Read, user, wp),
            fast_write,
        };
        self.tlb.insert(user, fill);
        Ok(phys_page | (linear & 0xFFF))
    }

    /// Translation for traces and debuggers that changes no guest state: no A/D bits, no TLB fill, no fault.
    pub fn peek_translate<B: Bus>(&mut self, bus: &mut B, linear: u64) -> Option<u64> {
        if !self.state.paging() {
            return Some((linear & 0xFFFF_FFFF) & self.a20_mask);
        }
        let mut shadow = ShadowBus { inner: bus };
        let t = self.walk(&mut shadow, linear, Access::Read, false).ok()?;
        Some((t.phys_page | (linear & 0xFFF)) & self.a20_mask)
    }

    /// Reads `size` bytes (1..=8) at a linear address.
    #[inline]
    pub(crate) fn read_linear<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        size: usize,
        user: bool,
    ) -> Result<u64, Fault> {
        if self.state.breakpoints_enabled() {
            self.note_data_access(linear, size, false);
        }
        if (linear & 0xFFF) as usize + size <= 0x1000 {
            if let Some(at) = self.tlb.fast_offset(linear, size, user, false) {
                if let Some(bytes) = bus.memory().get(at..at + size) {
                    return Ok(load_le(bytes));
                }
            }
            let phys = self.translate(bus, linear, Access::Read, user)?;
            return Ok(self.phys_read(bus, phys, size));
        }
        let mut value = 0u64;
        let first = 0x1000 - (linear & 0xFFF) as usize;
        let p0 = self.translate(bus, linear, Access::Read, user)?;
        let p1 = self.translate(bus, linear + first as u64, Access::Read, user)?;
        for i in 0..size {
            let p = if i < first {
                p0 + i as u64
            } else {
                p1 + (i - first) as u64
            };
            value |= self.phys_read(bus, p, 1) << (8 * i);
        }
        Ok(value)
    }

    /// Writes `size` bytes (1..=8) at a linear address; both pages are checked before any byte is written.
    #[inline]
    pub(crate) fn write_linear<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        size: usize,
        value: u64,
        user: bool,
    ) -> Result<(), Fault> {
        if self.state.breakpoints_enabled() {
            self.note_data_access(linear, size, true);
        }
        if (linear & 0xFFF) as usize + size <= 0x1000 {
            if let Some(at) = self.tlb.fast_offset(linear, size, user, true) {
                if let Some(bytes) = bus.memory().get_mut(at..at + size) {
                    store_le(bytes, value);
                    return Ok(());
                }
            }
            let phys = self.translate(bus, linear, Access::Write, user)?;
            self.phys_write(bus, phys, size, value);
            return Ok(());
        }
        let first = 0x1000 - (linear & 0xFFF) as usize;
        let p0 = self.translate(bus, linear, Access::Write, user)?;
        let p1 = self.translate(bus, linear + first as u64, Access::Write, user)?;
        for i in 0..size {
            let p = if i < first {
                p0 + i as u64
            } else {
                p1 + (i - first) as u64
            };
            self.phys_write(bus, p, 1, value >> (8 * i));
        }
        Ok(())
    }

    /// Checks that a linear range is writable without writing it (for instructions that write several places).
    pub(crate) fn probe_write<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        size: usize,
        user: bool,
    ) -> Result<(), Fault> {
        self.translate(bus, linear, Access::Write, user)?;
        let last = linear.wrapping_add(size as u64 - 1);
        if last >> 12 != linear >> 12 {
            self.translate(bus, last, Access::Write, user)?;
        }
        Ok(())
    }

    /// Reads `size` bytes at a physical address (must not cross a page).
    #[inline]
    pub(crate) fn phys_read<B: Bus>(&mut self, bus: &mut B, phys: u64, size: usize) -> u64 {
        match bus.backing(phys) {
            PageBacking::Ram(off) | PageBacking::Rom(off) => {
                let at = off + (phys & 0xFFF) as usize;
                let mut bytes = [0u8; 8];
                match bus.memory().get(at..at + size) {
                    Some(src) => bytes[..size].copy_from_slice(src),
                    None => return u64::MAX >> (64 - 8 * size),
                }
                u64::from_le_bytes(bytes)
            }
            PageBacking::Mmio => {
                self.recheck_interrupts = true;
                bus.sync_instructions(self.instructions);
                bus.mmio_read(phys, size as u8)
            }
        }
    }

    /// Writes `size` bytes at a physical address (must not cross a page), invalidating decoded code there.
    #[inline]
    pub(crate) fn phys_write<B: Bus>(&mut self, bus: &mut B, phys: u64, size: usize, value: u64) {
        match bus.backing(phys) {
            PageBacking::Ram(off) => {
                let how = self.code_pages.note_write(phys, size as u64);
                self.code_written(phys, how);
                let at = off + (phys & 0xFFF) as usize;
                if let Some(dst) = bus.memory().get_mut(at..at + size) {
                    dst.copy_from_slice(&value.to_le_bytes()[..size]);
                }
            }
            PageBacking::Rom(_) => {}
            PageBacking::Mmio => {
                self.recheck_interrupts = true;
                bus.sync_instructions(self.instructions);
                bus.mmio_write(phys, size as u8, value);
                // A device may want the machine now: an IPI for another processor, say.
                self.stop |= bus.stop_requested();
            }
        }
    }

    /// Reads a dword of guest-physical memory (page tables, descriptor tables in tests).
    pub fn phys_read_u32<B: Bus>(&mut self, bus: &mut B, phys: u64) -> u32 {
        self.phys_read(bus, phys & self.a20_mask, 4) as u32
    }

    /// Reads a qword of guest-physical memory.
    pub fn phys_read_u64<B: Bus>(&mut self, bus: &mut B, phys: u64) -> u64 {
        self.phys_read(bus, phys & self.a20_mask, 8)
    }

    /// Writes a dword of guest-physical memory.
    pub fn phys_write_u32<B: Bus>(&mut self, bus: &mut B, phys: u64, value: u32) {
        self.phys_write(bus, phys & self.a20_mask, 4, u64::from(value));
    }

    /// Flushes the TLB after a change of CR0, CR3, CR4, A20 or a mode switch.
    pub fn flush_tlb(&mut self, keep_global: bool) {
        self.tlb.flush(keep_global);
    }
}

/// A bus wrapper whose writes go nowhere: lets a page walk run without setting A/D bits.
struct ShadowBus<'a, B: Bus> {
    inner: &'a mut B,
}

impl<B: Bus> Bus for ShadowBus<'_, B> {
    fn memory(&mut self) -> &mut [u8] {
        self.inner.memory()
    }
    fn backing(&self, paddr: u64) -> PageBacking {
        match self.inner.backing(paddr) {
            PageBacking::Ram(off) => PageBacking::Rom(off),
            other => other,
        }
    }
    fn mmio_read(&mut self, _paddr: u64, size: u8) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(size))
    }
    fn mmio_write(&mut self, _paddr: u64, _size: u8, _value: u64) {}
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        u32::MAX
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
    fn interrupt_pending(&self) -> bool {
        false
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        0
    }
    fn a20_enabled(&self) -> bool {
        self.inner.a20_enabled()
    }
    fn stop_requested(&self) -> bool {
        false
    }
}

/// Reads a little-endian value of 1, 2, 4 or 8 bytes.
#[inline]
fn load_le(bytes: &[u8]) -> u64 {
    match *bytes {
        [b] => u64::from(b),
        [a, b] => u64::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => bytes.iter().rev().fold(0, |v, b| v << 8 | u64::from(*b)),
    }
}

/// Writes the low bytes of `value` little-endian into `bytes` (1, 2, 4 or 8 of them).
#[inline]
fn store_le(bytes: &mut [u8], value: u64) {
    match bytes.len() {
        1 => bytes[0] = value as u8,
        2 => bytes.copy_from_slice(&(value as u16).to_le_bytes()),
        4 => bytes.copy_from_slice(&(value as u32).to_le_bytes()),
        8 => bytes.copy_from_slice(&value.to_le_bytes()),
        n => bytes.copy_from_slice(&value.to_le_bytes()[..n]),
    }
}

impl Cpu {
    /// Records that an engine caches code from the `len` bytes at `phys` (those in its page): writes to the page
    /// now take the slow path, and those that reach the bytes bump its generation (see [`crate::code_pages`]).
    pub fn mark_code(&mut self, phys: u64, len: u64) {
        self.mark(phys, len, false);
    }

    /// [`Cpu::mark_code`] for the bytes of an instruction kept by its linear address while the TLB's epoch
    /// stands: a write to them moves the epoch.
    pub(crate) fn mark_kept_code(&mut self, phys: u64, len: u64) {
        self.mark(phys, len, true);
    }

    fn mark(&mut self, phys: u64, len: u64, kept: bool) {
        if self.code_pages.mark(phys, len, kept) {
            self.tlb.protect_code_page(phys);
        }
    }

    /// Code cached from the page of `phys` was written (`how`). The TLB's epochs move only when the page holds a
    /// kept instruction: otherwise the page joins [`Cpu::take_written_code`]'s list, so that a translator drops
    /// its own references to the page's code (its jump table's entries) without everything else keyed by the
    /// epochs going stale too. A long list (no engine taking it) moves the epochs instead.
    fn code_written(&mut self, phys: u64, how: CodeWrite) {
        match how {
            CodeWrite::Beside => {}
            CodeWrite::Stale { kept } if kept || self.written_code.len() >= WRITTEN_CODE_LIST => {
                self.tlb.note_code_write();
                // The epochs' move covers every page listed.
                self.written_code.clear();
            }
            CodeWrite::Stale { .. } => self.written_code.push(phys & !0xFFF),
        }
    }

    /// Hands `each` the physical pages whose cached code was written since the last call (each page once or
    /// more), unless the TLB's epochs moved meanwhile, which covers them.
    pub fn take_written_code(&mut self, mut each: impl FnMut(u64)) {
        self.written_code.drain(..).for_each(&mut each);
    }

    /// Whether [`Cpu::take_written_code`] has pages to hand out.
    #[inline]
    pub fn code_was_written(&self) -> bool {
        !self.written_code.is_empty()
    }

    /// A device wrote `len` bytes of guest-physical memory at `start` (DMA): code cached from those bytes is
    /// stale, as after a write by the CPU; other pages keep their TLB entries and decoded blocks.
    pub fn note_device_write(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = start.saturating_add(len - 1);
        let last = (end >> 12).min(MAX_TRACKED_PAGES as u64);
        for page in start >> 12..=last {
            let from = (page << 12).max(start);
            let to = ((page << 12) | 0xFFF).min(end);
            let how = self.code_pages.note_write(from, to - from + 1);
            self.code_written(from, how);
        }
    }

    /// Code cached from the `len` bytes at `phys` is stale, as after a write to them (a translator found that
    /// bytes its block depends on, on another page, have changed, or wants the block translated again).
    pub fn forget_code(&mut self, phys: u64, len: u64) {
        self.note_device_write(phys, len);
    }

    /// The generation of the physical page of `phys`: cached code from it is valid while this is unchanged.
    #[inline]
    pub fn code_generation(&self, phys: u64) -> u32 {
        self.code_pages.generation(phys)
    }

    /// Whether code cached at `generation` from `chunks` of the page of `phys` (see
    /// [`crate::code_pages::chunks_of`]) is still good: no write reached those bytes since, though the page's
    /// generation may have moved.
    pub fn code_unchanged_since(&self, phys: u64, generation: u32, chunks: u64) -> bool {
        self.code_pages.unchanged_since(phys, generation, chunks)
    }

    /// The soft TLB's table for user (`user`) or supervisor accesses, as generated code reads it.
    pub fn tlb_table(&self, user: bool) -> *const tlb::TlbEntry {
        self.tlb.table_ptr(user)
    }

    /// The TLB's epoch counters now ([`tlb::ANY_EPOCH`], [`tlb::GLOBAL_EPOCH`]).
    pub fn tlb_epochs(&self) -> [u64; 2] {
        self.tlb.epochs()
    }

    /// Whether code at `linear`, just fetched at the current privilege, is reached through a translation that a
    /// flush keeping global pages leaves alone: a global page, or no paging at all.
    pub fn code_mapping_is_global(&self, linear: u64) -> bool {
        !self.state.paging()
            || self
                .tlb
                .lookup(linear, self.user_mode())
                .is_some_and(|e| e.flags & tlb::GLOBAL != 0)
    }
}

impl Cpu {
    /// Walks the page tables for a data access of `size` bytes at `linear` that missed the TLB's fast path, at the
    /// current privilege, and caches the translation; true if the fast path now serves that access. False for
    /// anything it cannot serve (a non-canonical address, a fault, MMIO, ROM, a write to a code page, an access
    /// crossing a page): nothing is delivered, and the caller runs the instruction in the step, which takes the
    /// slow path precisely.
    ///
    /// `walk_write`: the walk is a write's (it sets the dirty bit); `fast_write`: the fast path must serve writes.
    /// A range that a read walks but a later write needs (a translator's page group) asks for the second only: a
    /// page not yet dirty is then not served, and the write that dirties it runs in the step, in its turn.
    pub fn fill_tlb<B: Bus>(
        &mut self,
        bus: &mut B,
        linear: u64,
        size: usize,
        walk_write: bool,
        fast_write: bool,
    ) -> bool {
        // A non-canonical address is the segmentation checks' #GP or #SS, which only the step raises.
        if !segment::canonical(linear) {
            return false;
        }
        let user = self.user_mode();
        let access = if walk_write {
            Access::Write
        } else {
            Access::Read
        };
        if self.translate_slow(bus, linear, access, user).is_err() {
            return false;
        }
        self.tlb
            .fast_offset(linear, size, user, walk_write || fast_write)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::Cpu;

    #[test]
    fn a_device_write_drops_only_the_code_pages_it_covers() {
        let mut cpu = Cpu::new();
        let pages = [0x1000, 0x3000, 0x5000];
        for page in pages {
            cpu.mark_code(page, 0x1000);
        }
        let before = pages.map(|p| cpu.code_generation(p));
        let epochs = cpu.tlb_epochs();
        // Sixteen bytes at the end of page 2 and sixteen at the start of page 3.
        cpu.note_device_write(0x2FF0, 0x20);
        let after = pages.map(|p| cpu.code_generation(p));
        assert_eq!(after[0], before[0]);
        assert_ne!(after[1], before[1], "page 3 held code");
        assert_eq!(after[2], before[2]);
        assert_eq!(cpu.tlb_epochs(), epochs, "no kept instruction was written");
        assert_eq!(written(&mut cpu), [0x3000], "listed for the engines");
        cpu.note_device_write(0x6000, 0x1000);
        cpu.note_device_write(0x5000, 0);
        cpu.note_device_write(u64::MAX - 10, 100);
        assert_eq!(cpu.tlb_epochs(), epochs, "no code written");
        assert!(written(&mut cpu).is_empty());
        assert_eq!(cpu.code_generation(0x5000), before[2]);
    }

    fn written(cpu: &mut Cpu) -> Vec<u64> {
        let mut pages = Vec::new();
        cpu.take_written_code(|page| pages.push(page));
        pages
    }

    #[test]
    fn a_write_to_a_kept_instruction_moves_the_tlb_epochs_and_so_does_a_long_list() {
        let mut cpu = Cpu::new();
        cpu.mark_kept_code(0x1FFE, 2);
        let epochs = cpu.tlb_epochs();
        cpu.note_device_write(0x1FFF, 1);
        assert_ne!(cpu.tlb_epochs(), epochs, "the kept instruction is stale");
        assert!(written(&mut cpu).is_empty(), "the epochs cover it");
        for page in 0..super::WRITTEN_CODE_LIST as u64 + 1 {
            cpu.mark_code(0x10_0000 + (page << 12), 1);
        }
        let epochs = cpu.tlb_epochs();
        for page in 0..super::WRITTEN_CODE_LIST as u64 {
            cpu.note_device_write(0x10_0000 + (page << 12), 1);
        }
        assert_eq!(cpu.tlb_epochs(), epochs);
        cpu.note_device_write(0x10_0000 + ((super::WRITTEN_CODE_LIST as u64) << 12), 1);
        assert_ne!(cpu.tlb_epochs(), epochs, "no engine took the list");
        assert!(written(&mut cpu).is_empty());
    }
}
