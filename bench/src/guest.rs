//! The nanobenchmark guest: a small 32-bit protected-mode kernel that times, with RDTSC, one trap-heavy operation at
//! a time (repeated N times), prints the results on COM1 and powers off through ACPI.
//!
//! It is started directly in protected mode by [`load`] (flat segments, a GDT in guest RAM, paging off), so it runs
//! unchanged on every engine. Set up: LTR, LIDT, SYSENTER MSRs, the 8259s masked, paging on (identity map of the
//! first 4 MiB, user-accessible). Each selected operation is bracketed by two writes to [`MARKER_PORT`] (so the host
//! can time it too), and its result line is `bench <name> <iterations> <ticks>` with both numbers in hex.

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, IcedError};
use vx86_cpu::state::{attr, cr0, SegReg, Segment, TableReg};
use vx86_cpu::CpuState;

/// Where the guest's code is loaded and where it starts.
pub const CODE_ADDR: u32 = 0x10000;
/// The GDT: null, kernel code 0x08, kernel data 0x10, user code 0x18, user data 0x20, TSS 0x28.
pub const GDT_ADDR: u32 = 0x1000;
/// The 32-bit TSS (only ESP0/SS0 are used).
pub const TSS_ADDR: u32 = 0x1100;
/// The IDT (256 gates, filled by the guest).
pub const IDT_ADDR: u32 = 0x2000;
/// The page directory and its copy (the CR3-write benchmark alternates between them).
pub const PAGE_DIR_ADDR: u32 = 0x3000;
/// The copy of the page directory.
pub const PAGE_DIR2_ADDR: u32 = 0x5000;
/// The page table mapping linear 0-4 MiB one to one, user-accessible.
pub const PAGE_TABLE_ADDR: u32 = 0x4000;
/// Results: per operation, the TSC ticks of the whole loop (u64).
pub const RESULTS_ADDR: u32 = 0x8000;
/// Bit k set: run operation k. Written by the loader.
pub const OP_MASK_ADDR: u32 = 0x8F00;
/// Iterations per operation. Written by the loader.
pub const ITERATIONS_ADDR: u32 = 0x8F04;
/// The kernel's saved stack pointer while ring 3 runs.
const SAVED_ESP_ADDR: u32 = 0x8F08;
/// Top of the ring-0 stack (also TSS.ESP0 and SYSENTER_ESP).
pub const KERNEL_STACK_TOP: u32 = 0xF000;
/// Top of the kernel's main stack (below the trap stack, which ring-3 traps would otherwise overwrite).
pub const MAIN_STACK_TOP: u32 = 0xE000;
/// Top of the ring-3 stack.
pub const USER_STACK_TOP: u32 = 0x70000;
/// The two pages the page-fault benchmark alternates between (one present, one not).
pub const PF_PAGE_A: u32 = 0x20_0000;
/// See [`PF_PAGE_A`].
pub const PF_PAGE_B: u32 = 0x20_1000;
/// The page whose PTE the INVLPG benchmark updates.
pub const INVLPG_PAGE: u32 = 0x20_2000;
/// Writes here bracket each operation: 2k before operation k, 2k+1 after (the POST port, a real device).
pub const MARKER_PORT: u16 = 0x80;
/// The isa-debug-exit port, written with 0x31 on an unexpected exception.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// The last line printed before power-off.
pub const DONE_LINE: &str = "bench: done";

const KCODE: u16 = 0x08;
const KDATA: u16 = 0x10;
const UCODE: u16 = 0x18 | 3;
const UDATA: u16 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;
const COM1: u16 = 0x3F8;

/// One operation of the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// Short name (printed by the guest, used in tables and JSON).
    pub name: &'static str,
    /// What is measured.
    pub what: &'static str,
    /// Runs in ring 3 (else ring 0).
    pub user: bool,
}

/// Every operation, in order (operation k is bit k of the mask).
pub const OPS: [Op; 10] = [
    Op {
        name: "int80",
        what: "system call round trip: INT 0x80 from ring 3, IRET back",
        user: true,
    },
    Op {
        name: "sysenter",
        what: "system call round trip: SYSENTER from ring 3, SYSEXIT back",
        user: true,
    },
    Op {
        name: "port_io",
        what: "IN from an emulated device (port 0x61)",
        user: false,
    },
    Op {
        name: "cr3_write",
        what: "MOV to CR3 (TLB flush), alternating two page directories",
        user: false,
    },
    Op {
        name: "page_fault",
        what: "#PF from ring 3, resolved by mapping the page (and unmapping the other)",
        user: true,
    },
    Op {
        name: "call_ret",
        what: "CALL/RET pair in ring 3",
        user: true,
    },
    Op {
        name: "div_zero",
        what: "#DE from ring 3, the handler skips the DIV",
        user: true,
    },
    Op {
        name: "pte_invlpg",
        what: "page-table entry update + INVLPG",
        user: false,
    },
    Op {
        name: "cli_sti",
        what: "CLI/STI pair",
        user: false,
    },
    Op {
        name: "compute",
        what: "one round of a 4-instruction ALU loop in ring 3",
        user: true,
    },
];

/// Index of the SYSENTER operation in [`OPS`].
const SYSENTER_OP: usize = 1;

/// Operations that run with paging on: CR3 write, page fault, PTE update + INVLPG.
const PAGING_OPS: u32 = (1 << 3) | (1 << 4) | (1 << 7);

fn pte_addr(page: u32) -> u32 {
    PAGE_TABLE_ADDR + (page >> 12) * 4
}

/// Labels whose addresses the code needs as numbers. `code_asm` addresses a label in memory operands only
/// RIP-relatively (64-bit code), so the guest is assembled twice or more: each pass uses the addresses the previous
/// pass found (0 at first) in fixed-size `mov reg, imm32` forms, until they settle.
struct Syms {
    known: Vec<u32>,
    labels: Vec<CodeLabel>,
}

impl Syms {
    /// A new symbol: its index in `labels` and its address from the previous pass.
    fn symbol(&mut self, a: &mut CodeAssembler) -> (usize, u32) {
        let addr = self.known.get(self.labels.len()).copied().unwrap_or(0);
        self.labels.push(a.create_label());
        (self.labels.len() - 1, addr)
    }

    /// Places symbol `index` at the next instruction.
    fn place(&mut self, a: &mut CodeAssembler, index: usize) -> Result<(), IcedError> {
        a.set_label(&mut self.labels[index])
    }
}

/// Assembles the guest kernel (loaded at [`CODE_ADDR`]).
pub fn assemble() -> Result<Vec<u8>, IcedError> {
    let mut known = Vec::new();
    loop {
        let (bytes, addrs) = assemble_pass(known)?;
        if let Some(bytes) = bytes {
            return Ok(bytes);
        }
        // Only `mov reg, imm32` forms take symbol addresses, so sizes never change and the second pass settles.
        known = addrs;
    }
}

/// One pass: the code if every symbol address used was already right, and the addresses found.
fn assemble_pass(known: Vec<u32>) -> Result<(Option<Vec<u8>>, Vec<u32>), IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut syms = Syms {
        known,
        labels: Vec::new(),
    };
    let (default_handler, default_addr) = syms.symbol(&mut a);
    let (de_handler, de_addr) = syms.symbol(&mut a);
    let (pf_handler, pf_addr) = syms.symbol(&mut a);
    let (int80_handler, int80_addr) = syms.symbol(&mut a);
    let (exit_handler, exit_addr) = syms.symbol(&mut a);
    let (sysenter_entry, sysenter_addr) = syms.symbol(&mut a);
    let (idtr, idtr_addr) = syms.symbol(&mut a);
    let (fail_msg, fail_addr) = syms.symbol(&mut a);
    let (done_msg, done_addr) = syms.symbol(&mut a);
    let mut name_labels = Vec::new();
    let mut op_labels = Vec::new();
    for _ in OPS {
        name_labels.push(syms.symbol(&mut a));
        op_labels.push(syms.symbol(&mut a));
    }
    let mut enter_user = a.create_label();
    let mut print_str = a.create_label();
    let mut print_hex = a.create_label();
    let mut putc = a.create_label();

    // Set-up: TR, IDT, SYSENTER MSRs, PICs masked, paging on.
    a.mov(ax, TSS_SEL as u32)?;
    a.ltr(ax)?;
    for v in 0..256u32 {
        let (handler, dpl) = match v {
            0 => (de_addr, 0),
            14 => (pf_addr, 0),
            0x80 => (int80_addr, 3),
            0x81 => (exit_addr, 3),
            _ => (default_addr, 0),
        };
        let gate = IDT_ADDR + 8 * v;
        a.mov(eax, handler)?;
        a.mov(word_ptr(gate), ax)?;
        a.mov(word_ptr(gate + 2), KCODE as u32)?;
        a.mov(word_ptr(gate + 4), 0x8E00u32 | (dpl << 13))?;
        a.shr(eax, 16)?;
        a.mov(word_ptr(gate + 6), ax)?;
    }
    a.lidt(ptr(idtr_addr))?;
    // The SYSENTER MSRs only when that operation runs: PVM refuses these WRMSRs with #GP.
    let mut no_sysenter = a.create_label();
    a.test(dword_ptr(OP_MASK_ADDR), 1u32 << SYSENTER_OP)?;
    a.jz(no_sysenter)?;
    for (msr, value) in [
        (0x174u32, None),
        (0x175, Some(KERNEL_STACK_TOP)),
        (0x176, None),
    ] {
        a.mov(ecx, msr)?;
        match (msr, value) {
            (0x174, _) => a.mov(eax, KCODE as u32)?,
            (_, Some(v)) => a.mov(eax, v)?,
            _ => a.mov(eax, sysenter_addr)?,
        }
        a.xor(edx, edx)?;
        a.wrmsr()?;
    }
    a.set_label(&mut no_sysenter)?;
    a.mov(al, 0xFFu32)?;
    a.out(0x21, al)?;
    a.out(0xA1, al)?;
    // Paging only for the operations that need it: PVM refuses CR0.PG with 32-bit paging (#GP).
    let mut no_paging = a.create_label();
    a.test(dword_ptr(OP_MASK_ADDR), PAGING_OPS)?;
    a.jz(no_paging)?;
    a.mov(eax, PAGE_DIR_ADDR)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, 0x8000_0000u32)?;
    a.mov(cr0, eax)?;
    a.set_label(&mut no_paging)?;
    a.nop()?;

    // Run each selected operation between two markers.
    for (k, op) in OPS.iter().enumerate() {
        let mut skip = a.create_label();
        a.test(dword_ptr(OP_MASK_ADDR), 1u32 << k)?;
        a.jz(skip)?;
        a.mov(al, (2 * k) as u32)?;
        a.out(MARKER_PORT as u32, al)?;
        if op.user {
            a.mov(eax, op_labels[k].1)?;
            a.call(enter_user)?;
        } else {
            a.call(syms.labels[op_labels[k].0])?;
        }
        a.mov(al, (2 * k + 1) as u32)?;
        a.out(MARKER_PORT as u32, al)?;
        a.set_label(&mut skip)?;
    }
    // Report.
    for (k, name) in name_labels.iter().enumerate() {
        let mut skip = a.create_label();
        a.test(dword_ptr(OP_MASK_ADDR), 1u32 << k)?;
        a.jz(skip)?;
        a.mov(esi, name.1)?;
        a.call(print_str)?;
        a.mov(eax, dword_ptr(ITERATIONS_ADDR))?;
        a.call(print_hex)?;
        a.mov(al, b' ' as u32)?;
        a.call(putc)?;
        a.mov(eax, dword_ptr(RESULTS_ADDR + 8 * k as u32 + 4))?;
        a.call(print_hex)?;
        a.mov(eax, dword_ptr(RESULTS_ADDR + 8 * k as u32))?;
        a.call(print_hex)?;
        a.mov(al, b'\n' as u32)?;
        a.call(putc)?;
        a.set_label(&mut skip)?;
    }
    a.mov(esi, done_addr)?;
    a.call(print_str)?;
    a.mov(dx, 0x604u32)?;
    a.mov(ax, 0x2000u32)?;
    a.out(dx, ax)?;
    let mut forever = a.create_label();
    a.set_label(&mut forever)?;
    a.cli()?;
    a.hlt()?;
    a.jmp(forever)?;

    // The operations: each times its loop with RDTSC and stores the ticks at RESULTS + 8k.
    for (k, op) in OPS.iter().enumerate() {
        syms.place(&mut a, op_labels[k].0)?;
        a.mov(ecx, dword_ptr(ITERATIONS_ADDR))?;
        a.push(ecx)?;
        a.rdtsc()?;
        a.mov(esi, eax)?;
        a.mov(edi, edx)?;
        a.pop(ebp)?; // EBP counts iterations down.
        emit_op_setup(&mut a, op.name)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        emit_op_body(&mut a, &mut syms, op.name)?;
        a.dec(ebp)?;
        a.jnz(top)?;
        a.rdtsc()?;
        a.sub(eax, esi)?;
        a.sbb(edx, edi)?;
        a.mov(dword_ptr(RESULTS_ADDR + 8 * k as u32), eax)?;
        a.mov(dword_ptr(RESULTS_ADDR + 8 * k as u32 + 4), edx)?;
        if op.user {
            a.int(0x81)?;
        } else {
            a.ret()?;
        }
    }

    // enter_user(EAX = ring-3 entry): IRET to ring 3; the operation comes back through INT 0x81.
    a.set_label(&mut enter_user)?;
    a.mov(dword_ptr(SAVED_ESP_ADDR), esp)?;
    a.push(UDATA as u32)?;
    a.push(USER_STACK_TOP)?;
    a.push(0x2u32)?;
    a.push(UCODE as u32)?;
    a.push(eax)?;
    a.mov(bx, UDATA as u32)?;
    a.mov(ds, bx)?;
    a.mov(es, bx)?;
    a.iretd()?;
    syms.place(&mut a, exit_handler)?;
    a.mov(bx, KDATA as u32)?;
    a.mov(ds, bx)?;
    a.mov(es, bx)?;
    a.mov(esp, dword_ptr(SAVED_ESP_ADDR))?;
    a.ret()?;

    // INT 0x80: return at once. SYSENTER: SYSEXIT to EDX with ESP = ECX.
    syms.place(&mut a, int80_handler)?;
    a.iretd()?;
    syms.place(&mut a, sysenter_entry)?;
    a.sysexit()?;

    // #DE: skip the 2-byte DIV ECX.
    syms.place(&mut a, de_handler)?;
    a.add(dword_ptr(esp), 2)?;
    a.iretd()?;

    // #PF: map the faulting page, unmap its twin, INVLPG the twin.
    syms.place(&mut a, pf_handler)?;
    a.push(eax)?;
    a.push(ebx)?;
    a.mov(eax, cr2)?;
    a.and(eax, 0xFFFF_F000u32)?;
    a.mov(ebx, eax)?;
    a.shr(eax, 10)?;
    a.or(dword_ptr(eax + PAGE_TABLE_ADDR), 1)?;
    a.xor(ebx, PF_PAGE_A ^ PF_PAGE_B)?;
    a.mov(eax, ebx)?;
    a.shr(eax, 10)?;
    a.and(dword_ptr(eax + PAGE_TABLE_ADDR), !1u32)?;
    a.invlpg(ptr(ebx))?;
    a.pop(ebx)?;
    a.pop(eax)?;
    a.add(esp, 4)?;
    a.iretd()?;

    // Anything else: say so and leave through isa-debug-exit.
    syms.place(&mut a, default_handler)?;
    a.mov(bx, KDATA as u32)?;
    a.mov(ds, bx)?;
    a.mov(esi, fail_addr)?;
    a.call(print_str)?;
    a.mov(al, 0x31u32)?;
    a.out(DEBUG_EXIT_PORT as u32, al)?;
    a.hlt()?;

    // putc(AL), print_str(ESI), print_hex(EAX: 8 digits).
    a.set_label(&mut putc)?;
    a.push(edx)?;
    a.push(eax)?;
    a.mov(dx, (COM1 + 5) as u32)?;
    let mut wait = a.create_label();
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, 0x20)?;
    a.jz(wait)?;
    a.pop(eax)?;
    a.mov(dx, COM1 as u32)?;
    a.out(dx, al)?;
    a.pop(edx)?;
    a.ret()?;
    a.set_label(&mut print_str)?;
    let mut ps_end = a.create_label();
    a.lodsb()?;
    a.test(al, al)?;
    a.jz(ps_end)?;
    a.call(putc)?;
    a.jmp(print_str)?;
    a.set_label(&mut ps_end)?;
    a.ret()?;
    a.set_label(&mut print_hex)?;
    a.push(ecx)?;
    a.push(ebx)?;
    a.mov(ebx, eax)?;
    a.mov(ecx, 8)?;
    let (mut ph_loop, mut digit) = (a.create_label(), a.create_label());
    a.set_label(&mut ph_loop)?;
    a.rol(ebx, 4)?;
    a.mov(eax, ebx)?;
    a.and(eax, 0xF)?;
    a.add(al, b'0' as u32)?;
    a.cmp(al, b'9' as u32)?;
    a.jbe(digit)?;
    a.add(al, 7)?;
    a.set_label(&mut digit)?;
    a.call(putc)?;
    a.dec(ecx)?;
    a.jnz(ph_loop)?;
    a.pop(ebx)?;
    a.pop(ecx)?;
    a.ret()?;

    // Data.
    syms.place(&mut a, idtr)?;
    a.dw(&[0x7FF])?;
    a.dd(&[IDT_ADDR])?;
    syms.place(&mut a, fail_msg)?;
    a.db(b"bench: FAILED: unexpected exception\n\0")?;
    syms.place(&mut a, done_msg)?;
    a.db(format!("{DONE_LINE}\n\0").as_bytes())?;
    for (k, op) in OPS.iter().enumerate() {
        syms.place(&mut a, name_labels[k].0)?;
        a.db(format!("bench {} \0", op.name).as_bytes())?;
    }
    let result = a.assemble_options(
        u64::from(CODE_ADDR),
        BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let addrs = syms
        .labels
        .iter()
        .map(|l| result.label_ip(l).map(|ip| ip as u32))
        .collect::<Result<Vec<u32>, IcedError>>()?;
    let settled = addrs == syms.known;
    let bytes = result.inner.code_buffer;
    Ok((settled.then_some(bytes), addrs))
}

/// Registers before the loop (EBP counts, ESI:EDI hold the start TSC).
fn emit_op_setup(a: &mut CodeAssembler, name: &str) -> Result<(), IcedError> {
    match name {
        "page_fault" => a.mov(ebx, PF_PAGE_A)?,
        "div_zero" => a.xor(ecx, ecx)?,
        "cr3_write" => {
            a.mov(eax, PAGE_DIR_ADDR)?;
            a.mov(ebx, PAGE_DIR2_ADDR)?;
        }
        "compute" => {
            a.xor(eax, eax)?;
            a.xor(edx, edx)?;
        }
        _ => {}
    }
    Ok(())
}

/// One iteration of an operation (the loop's DEC/JNZ follow).
fn emit_op_body(a: &mut CodeAssembler, syms: &mut Syms, name: &str) -> Result<(), IcedError> {
    match name {
        "int80" => a.int(0x80)?,
        "sysenter" => {
            let (back, back_addr) = syms.symbol(a);
            a.mov(ecx, esp)?;
            a.mov(edx, back_addr)?;
            a.sysenter()?;
            syms.place(a, back)?;
            a.nop()?;
        }
        "port_io" => a.in_(al, 0x61)?,
        "cr3_write" => {
            a.mov(cr3, eax)?;
            a.xchg(eax, ebx)?;
        }
        "page_fault" => {
            a.mov(eax, dword_ptr(ebx))?;
            a.xor(ebx, PF_PAGE_A ^ PF_PAGE_B)?;
        }
        "call_ret" => {
            let (mut f, mut after) = (a.create_label(), a.create_label());
            a.call(f)?;
            a.jmp(after)?;
            a.set_label(&mut f)?;
            a.ret()?;
            a.set_label(&mut after)?;
        }
        "div_zero" => {
            a.xor(edx, edx)?;
            a.mov(eax, 1)?;
            a.div(ecx)?;
        }
        "pte_invlpg" => {
            a.xor(dword_ptr(pte_addr(INVLPG_PAGE)), 0x20)?;
            a.invlpg(ptr(INVLPG_PAGE))?;
        }
        "cli_sti" => {
            a.cli()?;
            a.sti()?;
        }
        "compute" => {
            a.add(eax, ebp)?;
            a.xor(edx, eax)?;
        }
        other => unreachable!("no operation {other}"),
    }
    Ok(())
}

/// The guest's memory image: (physical address, bytes) pieces: GDT, TSS, page tables, parameters, code.
pub fn memory_image(op_mask: u32, iterations: u32) -> Vec<(u32, Vec<u8>)> {
    let desc = |base: u32, limit: u32, access: u8, flags: u8| -> u64 {
        u64::from(limit & 0xFFFF)
            | (u64::from(base & 0xFF_FFFF) << 16)
            | (u64::from(access) << 40)
            | (u64::from((limit >> 16) & 0xF) << 48)
            | (u64::from(flags) << 52)
            | (u64::from(base >> 24) << 56)
    };
    // Accessed bits preset, so loading a selector never writes the GDT.
    let gdt = [
        0,
        desc(0, 0xF_FFFF, 0x9B, 0xC),
        desc(0, 0xF_FFFF, 0x93, 0xC),
        desc(0, 0xF_FFFF, 0xFB, 0xC),
        desc(0, 0xF_FFFF, 0xF3, 0xC),
        desc(TSS_ADDR, 103, 0x89, 0),
    ];
    let mut tss = vec![0u8; 104];
    tss[4..8].copy_from_slice(&KERNEL_STACK_TOP.to_le_bytes());
    tss[8..10].copy_from_slice(&u32::from(KDATA).to_le_bytes()[..2]);
    tss[102..104].copy_from_slice(&104u16.to_le_bytes());
    let pde = (PAGE_TABLE_ADDR | 7).to_le_bytes().to_vec();
    let mut pt = Vec::with_capacity(4096);
    for i in 0..1024u32 {
        let present = if i << 12 == PF_PAGE_A { 0 } else { 1 };
        pt.extend_from_slice(&((i << 12) | 6 | present).to_le_bytes());
    }
    let mut params = op_mask.to_le_bytes().to_vec();
    params.extend_from_slice(&iterations.to_le_bytes());
    vec![
        (GDT_ADDR, gdt.iter().flat_map(|d| d.to_le_bytes()).collect()),
        (TSS_ADDR, tss),
        (PAGE_DIR_ADDR, pde.clone()),
        (PAGE_DIR2_ADDR, pde),
        (PAGE_TABLE_ADDR, pt),
        (OP_MASK_ADDR, params),
        (CODE_ADDR, assemble().expect("the bench guest assembles")),
    ]
}

/// The CPU state the guest starts in: 32-bit protected mode, CPL 0, flat segments from the GDT, paging off.
pub fn start_state() -> CpuState {
    let mut s = CpuState::reset();
    let flat = |selector: u16, code: bool| Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector,
        attrs: attr::P
            | attr::S
            | attr::RW
            | attr::ACCESSED
            | attr::DB
            | attr::G
            | if code { attr::CODE } else { 0 },
    };
    for r in SegReg::ALL {
        s.segs[r as usize] = flat(KDATA, false);
    }
    s.segs[SegReg::Cs as usize] = flat(KCODE, true);
    s.gdtr = TableReg {
        base: u64::from(GDT_ADDR),
        limit: 6 * 8 - 1,
    };
    s.cr0 = cr0::PE | cr0::ET;
    s.rip = u64::from(CODE_ADDR);
    s.gpr = [0; 16];
    s.gpr[vx86_cpu::state::gpr::RSP] = u64::from(MAIN_STACK_TOP);
    s.rflags = 2;
    s
}

/// Parses the guest's result lines: (name, iterations, ticks).
pub fn parse_results(serial: &str) -> Vec<(String, u64, u64)> {
    serial
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("bench ")?.split_whitespace();
            let name = w.next()?.to_string();
            let iters = u64::from_str_radix(w.next()?, 16).ok()?;
            let ticks = u64::from_str_radix(w.next()?, 16).ok()?;
            Some((name, iters, ticks))
        })
        .collect()
}
