//! Memory sizing (POST) and the memory services: INT 12h, and INT 15h E820h/E801h/88h, plus the rest of INT 15h.
//!
//! A real BIOS finds out how much RAM there is by reading the memory controller (SPD, DRAM registers) and then
//! reports it in several generations of interfaces: INT 12h (conventional KiB), INT 15h AH=88h (KiB above 1 MiB, at
//! most 64 MiB), AX=E801h (split at 16 MiB), and AX=E820h, the map that modern loaders and kernels use. Ours reads
//! the sizes that the board left in CMOS (as QEMU does: 0x30/0x31, 0x34/0x35, 0x5B-0x5D), keeps them in the EBDA,
//! and builds the E820 table there during POST.
//!
//! [`e820_map`] is the same map computed in Rust: it documents the layout and lets the tests check it.

use super::common::{clear_cf, enter, leave, load_seg, set_cf, F_AX, F_BX, F_CX, F_DX};
use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// E820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 type: reserved, not for the OS.
pub const E820_RESERVED: u32 = 2;
/// Size of one E820 entry in bytes (base, length, type).
pub const E820_ENTRY_SIZE: usize = 20;
/// "SMAP", the signature E820 callers pass in EDX and get back in EAX.
pub const SMAP: u32 = 0x534D_4150;
/// Highest end of RAM below 4 GiB we report: the PCI hole starts here at the latest.
pub const PCI_HOLE_START: u32 = 0xE000_0000;
/// Base of the reserved range at the top of 4 GiB where the BIOS ROM is aliased.
pub const HIGH_BIOS_BASE: u64 = 0xFFFC_0000;

/// One entry of the E820 memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    /// Physical start address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// [`E820_RAM`] or [`E820_RESERVED`].
    pub kind: u32,
}

impl E820Entry {
    /// The 20 bytes that INT 15h E820h copies to the caller.
    pub fn to_bytes(self) -> [u8; E820_ENTRY_SIZE] {
        let mut b = [0; E820_ENTRY_SIZE];
        b[0..8].copy_from_slice(&self.base.to_le_bytes());
        b[8..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&self.kind.to_le_bytes());
        b
    }
}

/// The memory sizes as the board reports them in CMOS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CmosMemory {
    /// CMOS 0x30/0x31: KiB of RAM above 1 MiB (saturates at 0xFFFF).
    pub ext_kib: u16,
    /// CMOS 0x34/0x35: RAM above 16 MiB in 64 KiB units (0 if there is none).
    pub ext16_64k: u16,
    /// CMOS 0x5B-0x5D: RAM above 4 GiB in 64 KiB units (24 bits).
    pub high_64k: u32,
}

impl CmosMemory {
    /// End of RAM below 4 GiB, as POST computes it: from 0x34/0x35 if set, else from 0x30/0x31; clamped to the
    /// PCI hole.
    pub fn ram_end_below_4g(&self) -> u32 {
        let end = if self.ext16_64k != 0 {
            let units = u32::from(self.ext16_64k).min(CLAMP_EXT16_64K);
            0x100_0000 + (units << 16)
        } else {
            0x10_0000 + (u32::from(self.ext_kib) << 10)
        };
        end.min(PCI_HOLE_START)
    }
}

/// Largest CMOS 0x34/0x35 value whose end address stays at or below [`PCI_HOLE_START`].
const CLAMP_EXT16_64K: u32 = (PCI_HOLE_START - 0x100_0000) >> 16;

/// The fixed part of the map, copied from ROM by POST; entry [`RAM_ENTRY`] gets its length patched in.
fn fixed_entries() -> [E820Entry; 5] {
    let ebda = u64::from(EBDA_BASE);
    [
        E820Entry {
            base: 0,
            len: ebda,
            kind: E820_RAM,
        },
        E820Entry {
            base: ebda,
            len: 0xA_0000 - ebda,
            kind: E820_RESERVED,
        },
        E820Entry {
            base: 0xF_0000,
            len: 0x1_0000,
            kind: E820_RESERVED,
        },
        E820Entry {
            base: 0x10_0000,
            len: 0,
            kind: E820_RAM,
        },
        E820Entry {
            base: HIGH_BIOS_BASE,
            len: 0x1_0000_0000 - HIGH_BIOS_BASE,
            kind: E820_RESERVED,
        },
    ]
}

/// Index of the "RAM from 1 MiB" entry in [`fixed_entries`].
const RAM_ENTRY: usize = 3;

/// The E820 map our BIOS reports for these CMOS memory sizes: low RAM up to the EBDA, the EBDA, the BIOS at
/// 0xF0000, RAM from 1 MiB, the BIOS alias below 4 GiB, and RAM above 4 GiB if there is any.
pub fn e820_map(m: &CmosMemory) -> Vec<E820Entry> {
    let mut map = fixed_entries().to_vec();
    map[RAM_ENTRY].len = u64::from(m.ram_end_below_4g()) - 0x10_0000;
    if m.high_64k != 0 {
        map.push(E820Entry {
            base: 1 << 32,
            len: u64::from(m.high_64k) << 16,
            kind: E820_RAM,
        });
    }
    map
}

/// Emits `AX = CMOS[lo] | CMOS[hi] << 8`.
fn read_cmos_word(a: &mut CodeAssembler, cmos_read: CodeLabel, lo: u32, hi: u32) -> Emit {
    a.mov(al, hi)?;
    a.call(cmos_read)?;
    a.mov(ah, al)?;
    a.mov(al, lo)?;
    a.call(cmos_read)
}

/// Emits memory sizing for POST, INT 12h and INT 15h, and the E820 template in ROM.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, prev } = c;

    // ---- memory_probe (POST): CMOS sizes -> EBDA variables and the E820 table. ES = EBDA. ------------------
    a.set_label(&mut l.memory_probe)?;
    load_seg(a, es, EBDA_SEG)?;
    read_cmos_word(a, l.cmos_read, CMOS_EXT_MEM_LO, CMOS_EXT_MEM_HI)?;
    a.mov(word_ptr(EBDA_EXT_KIB).es(), ax)?;
    read_cmos_word(a, l.cmos_read, CMOS_EXT16_LO, CMOS_EXT16_HI)?;
    a.mov(word_ptr(EBDA_EXT16_64K).es(), ax)?;
    // RAM above 4 GiB: three bytes, 64 KiB units.
    a.xor(ebx, ebx)?;
    for i in (0..3).rev() {
        a.shl(ebx, 8)?;
        a.mov(al, CMOS_HIGH_MEM + i)?;
        a.call(l.cmos_read)?;
        a.mov(bl, al)?;
    }
    a.mov(dword_ptr(EBDA_HIGH_64K).es(), ebx)?;
    // End of RAM below 4 GiB (see CmosMemory::ram_end_below_4g).
    let mut from_ext = a.create_label();
    let mut have_end = a.create_label();
    let mut below_hole = a.create_label();
    a.movzx(eax, word_ptr(EBDA_EXT16_64K).es())?;
    a.test(eax, eax)?;
    a.jz(from_ext)?;
    let mut small = a.create_label();
    a.cmp(eax, CLAMP_EXT16_64K)?;
    a.jbe(small)?;
    a.mov(eax, CLAMP_EXT16_64K)?;
    a.set_label(&mut small)?;
    a.shl(eax, 16)?;
    a.add(eax, 0x100_0000)?;
    a.jmp(have_end)?;
    a.set_label(&mut from_ext)?;
    a.movzx(eax, word_ptr(EBDA_EXT_KIB).es())?;
    a.shl(eax, 10)?;
    a.add(eax, 0x10_0000)?;
    a.set_label(&mut have_end)?;
    a.cmp(eax, PCI_HOLE_START)?;
    a.jbe(below_hole)?;
    a.mov(eax, PCI_HOLE_START)?;
    a.set_label(&mut below_hole)?;
    a.mov(dword_ptr(EBDA_RAM_END).es(), eax)?;
    // Copy the fixed entries from ROM, patch the length of the RAM-from-1-MiB entry.
    a.push(ds)?;
    a.push(cs)?;
    a.pop(ds)?;
    a.mov(si, prev.e820_template)?;
    a.mov(di, EBDA_E820_TABLE)?;
    a.mov(cx, (fixed_entries().len() * E820_ENTRY_SIZE) as u32)?;
    a.cld()?;
    a.rep().movsb()?;
    a.pop(ds)?;
    let ram_len = EBDA_E820_TABLE + (RAM_ENTRY * E820_ENTRY_SIZE + 8) as u32;
    a.sub(eax, 0x10_0000)?;
    a.mov(dword_ptr(ram_len).es(), eax)?;
    a.mov(word_ptr(EBDA_E820_COUNT).es(), fixed_entries().len() as u32)?;
    // RAM above 4 GiB: one more entry at DI (just after the fixed ones).
    let mut no_high = a.create_label();
    a.test(ebx, ebx)?;
    a.jz(no_high)?;
    a.mov(dword_ptr(di).es(), 0)?; // base = 1 << 32
    a.mov(dword_ptr(di + 4).es(), 1)?;
    a.mov(eax, ebx)?;
    a.shl(eax, 16)?;
    a.mov(dword_ptr(di + 8).es(), eax)?; // length = units << 16
    a.shr(ebx, 16)?;
    a.mov(dword_ptr(di + 12).es(), ebx)?;
    a.mov(dword_ptr(di + 16).es(), E820_RAM)?;
    a.inc(word_ptr(EBDA_E820_COUNT).es())?;
    a.set_label(&mut no_high)?;
    a.ret()?;

    // ---- INT 12h: conventional memory in KiB (from BDA 0x413), as on every PC. ------------------------------
    a.set_label(&mut l.int12_memory_size)?;
    a.push(ds)?;
    load_seg(a, ds, BDA_SEG)?;
    a.mov(ax, word_ptr(BDA_BASE_MEM_KIB))?;
    a.pop(ds)?;
    a.iret()?;

    // ---- INT 15h: "system services". A real BIOS has dozens (APM, PS/2 mouse, block move to extended
    // memory, ...). We do the memory-size ones, the A20 gate, the wait, and fail the rest with CF=1, AH=86h. ----
    a.set_label(&mut l.int15_system)?;
    let mut not_e820 = a.create_label();
    a.cmp(eax, 0xE820)?;
    a.jne(not_e820)?;
    emit_e820(a)?;
    a.set_label(&mut not_e820)?;
    enter(a)?;
    a.push(ax)?;
    load_seg(a, ds, EBDA_SEG)?;
    a.pop(ax)?;
    let mut unsupported = a.create_label();
    let mut success = a.create_label();
    let mut e801 = a.create_label();
    let mut a20 = a.create_label();
    let mut ext88 = a.create_label();
    a.cmp(ax, 0xE801)?;
    a.je(e801)?;
    a.cmp(ah, 0x24)?;
    a.je(a20)?;
    a.cmp(ah, 0x88)?;
    a.je(ext88)?;
    a.cmp(ah, 0x86)?; // wait CX:DX microseconds: we return at once
    a.je(success)?;
    a.set_label(&mut unsupported)?;
    a.mov(byte_ptr(bp + F_AX + 1), 0x86)?;
    set_cf(a)?;
    leave(a)?;
    a.set_label(&mut success)?;
    a.mov(byte_ptr(bp + F_AX + 1), 0)?;
    clear_cf(a)?;
    leave(a)?;

    // AX=E801h: AX = CX = KiB between 1 and 16 MiB (at most 15 MiB), BX = DX = 64 KiB blocks above 16 MiB.
    a.set_label(&mut e801)?;
    let mut e801_small = a.create_label();
    a.mov(ax, word_ptr(EBDA_EXT_KIB))?;
    a.cmp(ax, 0x3C00)?;
    a.jbe(e801_small)?;
    a.mov(ax, 0x3C00)?;
    a.set_label(&mut e801_small)?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    a.mov(word_ptr(bp + F_CX), ax)?;
    a.mov(ax, word_ptr(EBDA_EXT16_64K))?;
    a.mov(word_ptr(bp + F_BX), ax)?;
    a.mov(word_ptr(bp + F_DX), ax)?;
    clear_cf(a)?;
    leave(a)?;

    // AH=88h: AX = KiB above 1 MiB (CMOS 0x30/0x31, so at most 0xFFFF).
    a.set_label(&mut ext88)?;
    a.mov(ax, word_ptr(EBDA_EXT_KIB))?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    clear_cf(a)?;
    leave(a)?;

    // AX=2400h-2403h: the A20 gate, through System Control Port A (0x92) bit 1 ("fast A20").
    a.set_label(&mut a20)?;
    let mut a20_on = a.create_label();
    let mut a20_status = a.create_label();
    let mut a20_support = a.create_label();
    a.cmp(al, 1)?;
    a.je(a20_on)?;
    a.cmp(al, 2)?;
    a.je(a20_status)?;
    a.cmp(al, 3)?;
    a.je(a20_support)?;
    a.test(al, al)?;
    a.jnz(unsupported)?;
    // AL=00h: disable.
    a.in_(al, PORT_SYS_CTRL_A)?;
    a.and(al, 0xFC)?; // clear A20 and never set bit 0 (it resets the CPU)
    a.out(PORT_SYS_CTRL_A, al)?;
    a.jmp(success)?;
    a.set_label(&mut a20_on)?;
    a.in_(al, PORT_SYS_CTRL_A)?;
    a.and(al, 0xFE)?;
    a.or(al, 0x02)?;
    a.out(PORT_SYS_CTRL_A, al)?;
    a.jmp(success)?;
    // AL=02h: AL = 1 if A20 is on.
    a.set_label(&mut a20_status)?;
    a.in_(al, PORT_SYS_CTRL_A)?;
    a.shr(al, 1)?;
    a.and(al, 1)?;
    a.mov(byte_ptr(bp + F_AX), al)?;
    a.jmp(success)?;
    // AL=03h: BX = supported methods: bit 1 = port 0x92.
    a.set_label(&mut a20_support)?;
    a.mov(word_ptr(bp + F_BX), 0x0002)?;
    a.jmp(success)?;

    // ---- The fixed E820 entries, as data. --------------------------------------------------------------------
    a.set_label(&mut l.e820_template)?;
    let bytes: Vec<u8> = fixed_entries().iter().flat_map(|e| e.to_bytes()).collect();
    a.db(&bytes)
}

/// Emits INT 15h AX=E820h: entered with the caller's registers (EAX = E820h). EBX = 0 for the first entry or the
/// continuation value we returned last time (the next index); EDX = "SMAP"; ES:DI = 20-byte buffer. Returns
/// EAX = "SMAP", ECX = 20, EBX = next index (0 after the last entry), CF = 0; or CF = 1 with AH = 86h on a bad
/// call.
fn emit_e820(a: &mut CodeAssembler) -> Emit {
    let mut fail = a.create_label();
    let mut fail_pop = a.create_label();
    let mut last = a.create_label();
    a.cmp(edx, SMAP)?;
    a.jne(fail)?;
    a.push(ds)?;
    a.push(si)?;
    a.push(di)?;
    a.push(ax)?;
    load_seg(a, ds, EBDA_SEG)?;
    a.pop(ax)?;
    a.cmp(ebx, 0x100)?;
    a.jae(fail_pop)?;
    a.cmp(bx, word_ptr(EBDA_E820_COUNT))?;
    a.jae(fail_pop)?;
    a.imul_3(si, bx, E820_ENTRY_SIZE as i32)?;
    a.add(si, EBDA_E820_TABLE)?;
    a.mov(ecx, E820_ENTRY_SIZE as u32)?;
    a.cld()?;
    a.rep().movsb()?;
    a.inc(ebx)?;
    a.cmp(bx, word_ptr(EBDA_E820_COUNT))?;
    a.jb(last)?;
    a.xor(ebx, ebx)?; // that was the last entry
    a.set_label(&mut last)?;
    a.pop(di)?;
    a.pop(si)?;
    a.pop(ds)?;
    a.mov(eax, SMAP)?;
    a.mov(ecx, E820_ENTRY_SIZE as u32)?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.and(byte_ptr(bp + 6), 0xFE)?; // CF = 0 in the caller's FLAGS
    a.pop(bp)?;
    a.iret()?;
    // Failure: a bad index (after the pushes) or a bad signature (before them).
    a.set_label(&mut fail_pop)?;
    a.pop(di)?;
    a.pop(si)?;
    a.pop(ds)?;
    a.set_label(&mut fail)?;
    a.mov(ah, 0x86)?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.or(byte_ptr(bp + 6), 1)?; // CF = 1
    a.pop(bp)?;
    a.iret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_for_128_mib() {
        // QEMU with -m 128: 0x30/0x31 = 0xFC00 (63 MiB capped), 0x34/0x35 = (128 - 16) MiB / 64 KiB.
        let m = CmosMemory {
            ext_kib: 0xFC00,
            ext16_64k: (112 << 20 >> 16) as u16,
            high_64k: 0,
        };
        assert_eq!(m.ram_end_below_4g(), 128 << 20);
        let map = e820_map(&m);
        assert_eq!(map.len(), 5);
        assert_eq!(
            map[0],
            E820Entry {
                base: 0,
                len: 0x9_FC00,
                kind: E820_RAM
            }
        );
        assert_eq!(
            map[1],
            E820Entry {
                base: 0x9_FC00,
                len: 0x400,
                kind: E820_RESERVED
            }
        );
        assert_eq!(
            map[2],
            E820Entry {
                base: 0xF_0000,
                len: 0x1_0000,
                kind: E820_RESERVED
            }
        );
        assert_eq!(
            map[3],
            E820Entry {
                base: 0x10_0000,
                len: (128 << 20) - 0x10_0000,
                kind: E820_RAM
            }
        );
        assert_eq!(
            map[4],
            E820Entry {
                base: 0xFFFC_0000,
                len: 0x4_0000,
                kind: E820_RESERVED
            }
        );
    }

    #[test]
    fn small_memory_uses_0x30() {
        let m = CmosMemory {
            ext_kib: 7 * 1024,
            ext16_64k: 0,
            high_64k: 0,
        };
        assert_eq!(m.ram_end_below_4g(), 8 << 20);
        assert_eq!(e820_map(&m)[3].len, 7 << 20);
    }

    #[test]
    fn ram_above_4g_and_hole_clamp() {
        let m = CmosMemory {
            ext_kib: 0xFFFF,
            ext16_64k: 0xFFFF,
            high_64k: 0x1_0000,
        };
        assert_eq!(m.ram_end_below_4g(), PCI_HOLE_START);
        let map = e820_map(&m);
        assert_eq!(map.len(), 6);
        assert_eq!(
            map[5],
            E820Entry {
                base: 1 << 32,
                len: 4 << 30,
                kind: E820_RAM
            }
        );
        // Sorted and non-overlapping.
        for w in map.windows(2) {
            assert!(w[0].base + w[0].len <= w[1].base, "{w:?}");
        }
    }

    #[test]
    fn rom_template_is_the_fixed_map() {
        let rom = crate::bios::image();
        let at = crate::bios::symbols()
            .into_iter()
            .find(|(n, _)| *n == "e820_template")
            .unwrap()
            .1 as usize;
        let expected: Vec<u8> = fixed_entries().iter().flat_map(|e| e.to_bytes()).collect();
        assert_eq!(&rom[at..at + expected.len()], &expected[..]);
    }

    #[test]
    fn entry_bytes() {
        let e = E820Entry {
            base: 0x1122_3344_5566_7788,
            len: 0x10,
            kind: 2,
        };
        let b = e.to_bytes();
        assert_eq!(&b[0..8], &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&b[8..16], &[0x10, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[16..20], &[2, 0, 0, 0]);
    }
}
