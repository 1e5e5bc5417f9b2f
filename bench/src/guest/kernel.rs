//! The nanobenchmark kernel, written once for both flavours: set-up, the run of each selected operation between
//! two markers, the trap handlers, the report and the power-off; the operations' routines are in [`super::ops`],
//! the print routines in [`super::serial`]. What depends on the mode (where the paging structures are, the operand
//! size of the stack, of IRET and of control-register moves, how to enter ring 3, the fast system call) comes from
//! the guest's [`Flavour`]. The shared code uses 32-bit registers and no PUSH/POP, whose encodings are valid in both
//! modes.
//!
//! `code_asm` addresses a label in memory operands only RIP-relatively (64-bit code), so the kernel is assembled
//! twice or more: each pass uses the addresses the previous pass found (0 at first) in fixed-size `mov reg, imm32`
//! forms, until they settle ([`Syms`]).

use super::descriptors::{KCODE, KDATA};
use super::ops::{emit_op, emit_pte_offset};
use super::serial::{Serial, DONE_LINE, FAILED_PREFIX};
use super::{
    Op, CODE_ADDR, DEBUG_EXIT_PORT, IDT_ADDR, ITERATIONS_ADDR, MARKER_PORT, OP_MASK_ADDR,
    PF_PAGE_A, PF_PAGE_B, RESULTS_ADDR,
};
use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, IcedError};

/// What an emitter returns.
pub(super) type Emit = Result<(), IcedError>;

/// The IDT gate the operations in ring 3 leave through: #BP, raised by INT3, the one software interrupt besides INT
/// 0x80 that PVM delivers from ring 3 (it turns INT n into #UD).
const EXIT_VECTOR: u8 = 3;

/// A base register of a memory operand, at the mode's address size (see [`Flavour::at`]).
pub(super) enum Base {
    /// EAX or RAX.
    Ax,
    /// EBX or RBX.
    Bx,
}

/// How the two flavours differ.
pub(super) trait Flavour {
    /// Code size: 32 or 64.
    const BITS: u32;
    /// The operations; operation k runs when bit k of the mask is set.
    const OPS: &'static [Op];
    /// Bytes per IDT gate: 8, or 16 in long mode.
    const GATE_BYTES: u32;
    /// The two page-table roots the CR3-write benchmark alternates between.
    const ROOTS: [u32; 2];
    /// The page table with 4 KiB entries for the page-fault and INVLPG pages.
    const PAGE_TABLE: u32;
    /// The linear address the first entry of [`Flavour::PAGE_TABLE`] maps.
    const PAGE_TABLE_MAPS: u32;
    /// log2 of a page-table entry's size.
    const PTE_SHIFT: u32;

    /// Ring-0 set-up once the IDT is loaded: TR, the fast system call's MSRs (`fast_entry` is its handler) and
    /// paging, as far as the selected operations need them.
    fn setup(a: &mut CodeAssembler, fast_entry: u32) -> Emit;
    /// `enter_user(EAX = ring-3 entry)`, an IRET to ring 3 that saves the kernel's stack pointer; and at `exit` the
    /// handler of [`EXIT_VECTOR`], which returns to enter_user's caller.
    fn user_switch(
        a: &mut CodeAssembler,
        syms: &mut Syms,
        enter_user: &mut CodeLabel,
        exit: Sym,
    ) -> Emit;
    /// One fast system call from ring 3 (a loop body).
    fn fast_call(a: &mut CodeAssembler, syms: &mut Syms) -> Emit;
    /// The fast system call's ring-0 entry, which returns at once.
    fn fast_return(a: &mut CodeAssembler) -> Emit;
    /// IRET with the mode's operand size.
    fn iret(a: &mut CodeAssembler) -> Emit;
    /// Saves EAX and EBX (whole registers) on the stack.
    fn push_scratch(a: &mut CodeAssembler) -> Emit;
    /// Restores what [`Flavour::push_scratch`] saved.
    fn pop_scratch(a: &mut CodeAssembler) -> Emit;
    /// CR2 into EAX (RAX).
    fn eax_from_cr2(a: &mut CodeAssembler) -> Emit;
    /// EAX (RAX) into CR3.
    fn cr3_from_eax(a: &mut CodeAssembler) -> Emit;
    /// In an exception handler without error code: adds `bytes` to the return address.
    fn skip_return(a: &mut CodeAssembler, bytes: i32) -> Emit;
    /// In an exception handler: pops the error code.
    fn drop_error_code(a: &mut CodeAssembler) -> Emit;
    /// `[base + disp]` at the mode's address size.
    fn at(base: Base, disp: u32) -> AsmMemoryOperand;
}

/// A label whose address the code needs as a number: its index in [`Syms`] and its address from the previous pass.
#[derive(Clone, Copy)]
pub(super) struct Sym {
    index: usize,
    /// The address the previous pass found (0 in the first).
    pub(super) addr: u32,
}

/// The labels of one assembly pass whose addresses are used as numbers.
pub(super) struct Syms {
    known: Vec<u32>,
    labels: Vec<CodeLabel>,
}

impl Syms {
    /// A new symbol.
    pub(super) fn symbol(&mut self, a: &mut CodeAssembler) -> Sym {
        let addr = self.known.get(self.labels.len()).copied().unwrap_or(0);
        self.labels.push(a.create_label());
        Sym {
            index: self.labels.len() - 1,
            addr,
        }
    }

    /// Places `s` at the next instruction.
    pub(super) fn place(&mut self, a: &mut CodeAssembler, s: Sym) -> Emit {
        a.set_label(&mut self.labels[s.index])
    }

    fn label(&self, s: Sym) -> CodeLabel {
        self.labels[s.index]
    }
}

/// The symbols of the kernel.
struct Kernel {
    /// Per vector: a stub that reports it as unexpected.
    unexpected: Vec<Sym>,
    de_handler: Sym,
    pf_handler: Sym,
    int80_handler: Sym,
    exit_handler: Sym,
    fast_entry: Sym,
    idtr: Sym,
    fail_msg: Sym,
    done_msg: Sym,
    /// Per operation: its `bench <name> ` string and its routine.
    ops: Vec<(Sym, Sym)>,
}

/// The kernel's subroutines.
struct Routines {
    /// See [`Flavour::user_switch`].
    enter_user: CodeLabel,
    /// The unexpected-exception report (AL = vector).
    unexpected: CodeLabel,
    serial: Serial,
}

/// Assembles the kernel of flavour `F` (loaded at [`CODE_ADDR`]).
pub(super) fn assemble<F: Flavour>() -> Result<Vec<u8>, IcedError> {
    let mut known = Vec::new();
    loop {
        let (bytes, addrs) = assemble_pass::<F>(known)?;
        if let Some(bytes) = bytes {
            return Ok(bytes);
        }
        // Only `mov reg, imm32` forms take symbol addresses, so sizes never change and the second pass settles.
        known = addrs;
    }
}

/// One pass: the code if every symbol address used was already right, and the addresses found.
fn assemble_pass<F: Flavour>(known: Vec<u32>) -> Result<(Option<Vec<u8>>, Vec<u32>), IcedError> {
    let mut a = CodeAssembler::new(F::BITS)?;
    let mut syms = Syms {
        known,
        labels: Vec::new(),
    };
    let mut sym = |a: &mut CodeAssembler| syms.symbol(a);
    let k = Kernel {
        unexpected: (0..256).map(|_| sym(&mut a)).collect(),
        de_handler: sym(&mut a),
        pf_handler: sym(&mut a),
        int80_handler: sym(&mut a),
        exit_handler: sym(&mut a),
        fast_entry: sym(&mut a),
        idtr: sym(&mut a),
        fail_msg: sym(&mut a),
        done_msg: sym(&mut a),
        ops: F::OPS.iter().map(|_| (sym(&mut a), sym(&mut a))).collect(),
    };
    let mut r = Routines {
        enter_user: a.create_label(),
        unexpected: a.create_label(),
        serial: Serial::new(&mut a),
    };
    emit_setup::<F>(&mut a, &k)?;
    emit_run(&mut a, &syms, &k, &r, F::OPS)?;
    emit_report_and_power_off(&mut a, &k, &r)?;
    for (i, op) in F::OPS.iter().enumerate() {
        emit_op::<F>(&mut a, &mut syms, k.ops[i].1, i, op)?;
    }
    F::user_switch(&mut a, &mut syms, &mut r.enter_user, k.exit_handler)?;
    emit_handlers::<F>(&mut a, &mut syms, &k, &mut r)?;
    r.serial.emit_routines(&mut a)?;
    emit_data::<F>(&mut a, &mut syms, &k)?;

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
    Ok((settled.then_some(result.inner.code_buffer), addrs))
}

/// Emits `body` to run only when an operation in `mask` is selected.
pub(super) fn if_selected(
    a: &mut CodeAssembler,
    mask: u32,
    body: impl FnOnce(&mut CodeAssembler) -> Emit,
) -> Emit {
    let mut skip = a.create_label();
    a.test(dword_ptr(OP_MASK_ADDR), mask)?;
    a.jz(skip)?;
    body(a)?;
    a.set_label(&mut skip)
}

/// WRMSR of each (MSR, value).
pub(super) fn wrmsrs(a: &mut CodeAssembler, msrs: &[(u32, u64)]) -> Emit {
    for &(msr, value) in msrs {
        a.mov(ecx, msr)?;
        a.mov(eax, value as u32)?;
        a.mov(edx, (value >> 32) as u32)?;
        a.wrmsr()?;
    }
    Ok(())
}

/// The IDT (every vector to its stub of the unexpected-exception report but #DE, #PF, INT 0x80 and the exit gate;
/// the upper half of a 16-byte gate stays zero, as in fresh RAM), LIDT, the 8259s masked, then the flavour's set-up.
fn emit_setup<F: Flavour>(a: &mut CodeAssembler, k: &Kernel) -> Emit {
    for v in 0..=255u8 {
        let (handler, dpl) = match v {
            0 => (k.de_handler, 0),
            14 => (k.pf_handler, 0),
            0x80 => (k.int80_handler, 3),
            EXIT_VECTOR => (k.exit_handler, 3),
            _ => (k.unexpected[usize::from(v)], 0),
        };
        // A present interrupt gate: type 0xE is the 32-bit gate in protected mode and the 64-bit one in long mode.
        let gate = IDT_ADDR + F::GATE_BYTES * u32::from(v);
        a.mov(eax, handler.addr)?;
        a.mov(word_ptr(gate), ax)?;
        a.mov(word_ptr(gate + 2), u32::from(KCODE))?;
        a.mov(word_ptr(gate + 4), 0x8E00u32 | (dpl << 13))?;
        a.shr(eax, 16)?;
        a.mov(word_ptr(gate + 6), ax)?;
    }
    a.lidt(ptr(k.idtr.addr))?;
    a.mov(al, 0xFFu32)?;
    a.out(0x21, al)?;
    a.out(0xA1, al)?;
    F::setup(a, k.fast_entry.addr)
}

/// Runs each selected operation between two markers.
fn emit_run(a: &mut CodeAssembler, syms: &Syms, k: &Kernel, r: &Routines, ops: &[Op]) -> Emit {
    for (i, op) in ops.iter().enumerate() {
        let routine = k.ops[i].1;
        if_selected(a, 1 << i, |a| {
            a.mov(al, (2 * i) as u32)?;
            a.out(u32::from(MARKER_PORT), al)?;
            if op.user {
                a.mov(eax, routine.addr)?;
                a.call(r.enter_user)?;
            } else {
                a.call(syms.label(routine))?;
            }
            a.mov(al, (2 * i + 1) as u32)?;
            a.out(u32::from(MARKER_PORT), al)
        })?;
    }
    Ok(())
}

/// Prints `bench <name> <iterations> <ticks>` per selected operation and the done line, then powers off through
/// the ACPI PM1a control register (SLP_EN, S5).
fn emit_report_and_power_off(a: &mut CodeAssembler, k: &Kernel, r: &Routines) -> Emit {
    for (i, &(name, _)) in k.ops.iter().enumerate() {
        let ticks = RESULTS_ADDR + 8 * i as u32;
        if_selected(a, 1 << i, |a| {
            r.serial
                .emit_result_line(a, name.addr, ITERATIONS_ADDR, ticks)
        })?;
    }
    r.serial.emit_print(a, k.done_msg.addr)?;
    a.mov(dx, 0x604u32)?;
    a.mov(ax, 0x2000u32)?;
    a.out(dx, ax)?;
    let mut forever = a.create_label();
    a.set_label(&mut forever)?;
    a.cli()?;
    a.hlt()?;
    a.jmp(forever)
}

/// INT 0x80 and the fast system call return at once; #DE skips the 2-byte DIV ECX; #PF maps the faulting page,
/// unmaps its twin and INVLPGs the twin; anything else prints its vector and leaves through isa-debug-exit.
fn emit_handlers<F: Flavour>(
    a: &mut CodeAssembler,
    syms: &mut Syms,
    k: &Kernel,
    r: &mut Routines,
) -> Emit {
    syms.place(a, k.int80_handler)?;
    F::iret(a)?;
    syms.place(a, k.fast_entry)?;
    F::fast_return(a)?;

    syms.place(a, k.de_handler)?;
    F::skip_return(a, 2)?;
    F::iret(a)?;

    syms.place(a, k.pf_handler)?;
    F::push_scratch(a)?;
    F::eax_from_cr2(a)?;
    a.and(eax, 0xFFFF_F000u32)?;
    a.mov(ebx, eax)?;
    emit_pte_offset::<F>(a)?;
    a.or(dword_ptr(F::at(Base::Ax, F::PAGE_TABLE)), 1)?;
    a.xor(ebx, PF_PAGE_A ^ PF_PAGE_B)?;
    a.mov(eax, ebx)?;
    emit_pte_offset::<F>(a)?;
    a.and(dword_ptr(F::at(Base::Ax, F::PAGE_TABLE)), !1u32)?;
    a.invlpg(ptr(F::at(Base::Bx, 0)))?;
    F::pop_scratch(a)?;
    F::drop_error_code(a)?;
    F::iret(a)?;

    for (v, &stub) in k.unexpected.iter().enumerate() {
        syms.place(a, stub)?;
        a.mov(al, v as u32)?;
        a.jmp(r.unexpected)?;
    }
    a.set_label(&mut r.unexpected)?;
    a.movzx(ebp, al)?;
    a.mov(bx, u32::from(KDATA))?;
    a.mov(ds, bx)?;
    r.serial.emit_print(a, k.fail_msg.addr)?;
    a.mov(eax, ebp)?;
    r.serial.emit_hex_line(a)?;
    a.mov(al, 0x31u32)?;
    a.out(u32::from(DEBUG_EXIT_PORT), al)?;
    a.hlt()
}

/// The IDTR operand (limit, then a base of the mode's width) and the strings.
fn emit_data<F: Flavour>(a: &mut CodeAssembler, syms: &mut Syms, k: &Kernel) -> Emit {
    syms.place(a, k.idtr)?;
    a.dw(&[(256 * F::GATE_BYTES - 1) as u16])?;
    if F::BITS == 64 {
        a.dq(&[u64::from(IDT_ADDR)])?;
    } else {
        a.dd(&[IDT_ADDR])?;
    }
    syms.place(a, k.fail_msg)?;
    a.db(format!("{FAILED_PREFIX} \0").as_bytes())?;
    syms.place(a, k.done_msg)?;
    a.db(format!("{DONE_LINE}\n\0").as_bytes())?;
    for (&(name, _), op) in k.ops.iter().zip(F::OPS) {
        syms.place(a, name)?;
        a.db(format!("bench {} \0", op.name).as_bytes())?;
    }
    Ok(())
}
