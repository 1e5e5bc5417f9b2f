//! Paging: 32-bit 4 KiB and 4 MiB pages, PAE with NX, accessed/dirty bits, CR0.WP, global pages against CR3
//! writes and INVLPG, and the A20 gate.

use iced_x86::code_asm::*;
use vx86_cpu::state::{cr0, cr4, efer};
use vx86_cpu::testing::{layout, ProtectedMachine};
use vx86_cpu::Exit;

const K: u32 = layout::KERNEL_CODE as u32;

#[test]
fn four_kib_page_remap_sets_accessed_and_dirty() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.identity_paging(3);
            m.bus
                .write_u32(ProtectedMachine::pte_addr(0x6000), 0xC000 | 3);
            m.bus
                .write_u32(ProtectedMachine::pte_addr(0x7000), 0xD000 | 3);
            m.bus.write_u32(0xC010, 0xCAFE_F00D);
        },
        |a| {
            a.mov(eax, dword_ptr(0x6010)).unwrap();
            a.mov(dword_ptr(0x7020), eax).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(m.cpu.state.gpr[0], 0xCAFE_F00D);
    assert_eq!(m.bus.read_u32(0xD020), 0xCAFE_F00D);
    assert_eq!(
        m.bus.read_u32(ProtectedMachine::pte_addr(0x6000)),
        0xC000 | 0x23,
        "read: accessed only"
    );
    assert_eq!(
        m.bus.read_u32(ProtectedMachine::pte_addr(0x7000)),
        0xD000 | 0x63,
        "write: accessed and dirty"
    );
    assert_eq!(
        m.bus.read_u32(layout::PAGE_DIR) & 0x60,
        0x20,
        "PDE accessed, never dirty"
    );
}

#[test]
fn four_mib_page_with_pse() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.identity_paging(3);
            m.bus.write_u32(layout::PAGE_DIR + 4, 0x83); // linear 4 MiB -> physical 0, PS
            m.bus.write_u32(0x6234, 0x1357_9BDF);
            m.cpu.state.cr4 |= cr4::PSE;
        },
        |a| {
            a.mov(eax, dword_ptr(0x40_6234)).unwrap();
            a.mov(dword_ptr(0x40_6238), eax).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(m.cpu.state.gpr[0], 0x1357_9BDF);
    assert_eq!(m.bus.read_u32(0x6238), 0x1357_9BDF);
    assert_eq!(
        m.bus.read_u32(layout::PAGE_DIR + 4),
        0xE3,
        "large page accessed and dirty"
    );
}

#[test]
fn invlpg_anywhere_in_a_large_page_drops_all_of_it() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.identity_paging(3);
            m.bus.write_u32(layout::PAGE_DIR + 4, 0x83); // 4 MiB page: 0x406000 -> 0x6000
            m.bus.write_u32(0x25000 + 4 * 6, 0x1_6000 | 3); // replacement table: 0x406000 -> 0x16000
            m.bus.write_u32(0x6000, 1);
            m.bus.write_u32(0x1_6000, 2);
            m.cpu.state.cr4 |= cr4::PSE;
        },
        |a| {
            a.mov(eax, dword_ptr(0x40_6000)).unwrap();
            a.mov(dword_ptr(layout::PAGE_DIR as u32 + 4), 0x2_5003u32)
                .unwrap();
            a.invlpg(dword_ptr(0x40_0000)).unwrap(); // another 4 KiB piece of the same large page
            a.mov(ebx, dword_ptr(0x40_6000)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!((m.cpu.state.gpr[0], m.cpu.state.gpr[3]), (1, 2));
}

/// PAE tables identity-mapping the first 2 MiB with 4 KiB pages; returns the PTE address for `linear`.
fn pae_identity(m: &mut ProtectedMachine) {
    let (pdpt, pd, pt) = (0x22000u64, 0x23000u64, 0x24000u64);
    m.bus.write_u64(pdpt, pd | 1);
    m.bus.write_u64(pd, pt | 7);
    for k in 0..512u64 {
        m.bus.write_u64(pt + 8 * k, (k << 12) | 7);
    }
    m.cpu.state.cr3 = pdpt;
    m.cpu.state.cr4 |= cr4::PAE;
    m.cpu.state.efer |= efer::NXE;
    m.cpu.state.cr0 |= cr0::PG;
    m.cpu.flush_tlb(false);
}

#[test]
fn pae_fetch_from_nx_page_faults_with_the_instruction_fetch_bit() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            pae_identity(m);
            m.bus.write_u64(0x24000 + 8 * 6, 0x6000 | 3 | 1 << 63);
            m.bus.write_u32(0x6100, 0x1122_3344);
            m.bus.ram[0x6000] = 0xF4;
        },
        |a| {
            a.mov(eax, dword_ptr(0x6100)).unwrap(); // data reads from an NX page are fine
            a.mov(ebx, 0x6000u32).unwrap();
            a.jmp(ebx).unwrap();
        },
    );
    assert_eq!(m.cpu.state.gpr[0], 0x1122_3344);
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.stack(1)),
        (Some(14), 0x11, 0x6000)
    );
    assert_eq!(m.cpu.state.cr2, 0x6000);
}

#[test]
fn write_protect_applies_to_supervisor_writes_only_with_cr0_wp() {
    let setup = |m: &mut ProtectedMachine| {
        m.identity_paging(3);
        m.bus
            .write_u32(ProtectedMachine::pte_addr(0x6000), 0x6000 | 1);
    };
    let m = ProtectedMachine::run_ring0(setup, |a| {
        a.mov(dword_ptr(0x6000), 0x42u32).unwrap();
        a.mov(eax, cr0).unwrap();
        a.or(eax, cr0::WP as u32).unwrap();
        a.mov(cr0, eax).unwrap();
        a.mov(dword_ptr(0x6004), 0x43u32).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.bus.read_u32(0x6000), 0x42);
    assert_eq!(m.bus.read_u32(0x6004), 0);
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.cpu.state.cr2),
        (Some(14), 3, 0x6004)
    );
}

#[test]
fn global_pages_survive_cr3_writes_but_not_invlpg() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.identity_paging(3);
            m.bus
                .write_u32(ProtectedMachine::pte_addr(0x6000), 0xC000 | 0x103); // global
            m.bus
                .write_u32(ProtectedMachine::pte_addr(0x7000), 0xC000 | 0x003);
            m.bus.write_u32(0xC000, 1);
            m.bus.write_u32(0xD000, 2);
            m.cpu.state.cr4 |= cr4::PGE;
        },
        |a| {
            // Fill the TLB, then point both PTEs at 0xD000.
            a.mov(eax, dword_ptr(0x6000)).unwrap();
            a.mov(eax, dword_ptr(0x7000)).unwrap();
            a.mov(
                dword_ptr(ProtectedMachine::pte_addr(0x6000) as u32),
                0xD103u32,
            )
            .unwrap();
            a.mov(
                dword_ptr(ProtectedMachine::pte_addr(0x7000) as u32),
                0xD003u32,
            )
            .unwrap();
            a.mov(eax, cr3).unwrap();
            a.mov(cr3, eax).unwrap();
            a.mov(ebx, dword_ptr(0x6000)).unwrap(); // still the stale global translation: 1
            a.mov(ecx, dword_ptr(0x7000)).unwrap(); // non-global was flushed: 2
            a.invlpg(dword_ptr(0x6000)).unwrap();
            a.mov(edx, dword_ptr(0x6000)).unwrap(); // now 2
            a.hlt().unwrap();
        },
    );
    let s = &m.cpu.state;
    assert_eq!((s.gpr[3], s.gpr[1], s.gpr[2]), (1, 2, 2));
}

#[test]
fn invlpg_makes_a_changed_pte_visible() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.identity_paging(3);
            m.bus
                .write_u32(ProtectedMachine::pte_addr(0x6000), 0xC000 | 3);
            m.bus.write_u32(0xC000, 1);
            m.bus.write_u32(0xD000, 2);
        },
        |a| {
            a.mov(eax, dword_ptr(0x6000)).unwrap();
            a.mov(
                dword_ptr(ProtectedMachine::pte_addr(0x6000) as u32),
                0xD003u32,
            )
            .unwrap();
            a.mov(ebx, dword_ptr(0x6000)).unwrap(); // stale: 1
            a.invlpg(dword_ptr(0x6000)).unwrap();
            a.mov(ecx, dword_ptr(0x6000)).unwrap(); // 2
            a.hlt().unwrap();
        },
    );
    let s = &m.cpu.state;
    assert_eq!((s.gpr[0], s.gpr[3], s.gpr[1]), (1, 1, 2));
    let _ = K;
}

#[test]
fn a20_gate_masks_bit_20() {
    let run = |a20: bool| {
        let mut bus = vx86_cpu::testing::FlatBus::new(2 << 20);
        bus.a20 = a20;
        let code = vx86_cpu::testing::assemble(16, 0x1000, |a| {
            a.mov(ax, 0xFFFFu32).unwrap();
            a.mov(es, ax).unwrap();
            a.mov(byte_ptr(0x10).es(), 0x5Au32).unwrap(); // FFFF:0010 = linear 0x100000
            a.hlt().unwrap();
        });
        bus.load(0x1000, &code);
        let mut cpu = vx86_cpu::testing::real_cpu(0x1000, 0x8000);
        assert_eq!(
            vx86_cpu::testing::run(&mut cpu, &mut bus, 100),
            Exit::Halted
        );
        (bus.ram[0], bus.ram[0x10_0000])
    };
    assert_eq!(run(false), (0x5A, 0));
    assert_eq!(run(true), (0, 0x5A));
}
