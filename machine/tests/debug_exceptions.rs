//! Debug exceptions in 64-bit mode under every engine, KVM included (the CPU crate's tests cover the same rules
//! in 32-bit protected mode under the interpreter and the translator; this host's paravirtual KVM runs only
//! 64-bit kernel code): TF single-step, the MOV SS hold, instruction and data breakpoints with their DR6 bits
//! and RF, general detect, MOV DR4 under CR4.DE, and ICEBP. Every engine must record what the interpreter
//! records, and that must be what the SDM says.

mod common;

use common::flat::{self, CODE};
use iced_x86::code_asm::*;
use vx86_cpu::debug::{dr6, dr7};
use vx86_cpu::flags::{RF, TF};
use vx86_cpu::state::cr4;
use vx86_machine::{EngineKind, Outcome, Vm};

/// The #DB handler.
const DB_HANDLER: u64 = 0x12000;
/// The #UD handler.
const UD_HANDLER: u64 = 0x12400;
/// What the handlers record.
const DATA: u64 = 0x20000;
/// #DB exceptions taken.
const DB_COUNT: u64 = DATA;
/// #UD exceptions taken.
const UD_COUNT: u64 = DATA + 4;
/// For the first [`RECORDS`] #DBs, (DR6, pushed RIP, pushed RFLAGS), 24 bytes each.
const DB_RECORDS: u64 = DATA + 0x10;
/// How many #DBs are recorded.
const RECORDS: u64 = 8;
/// Per-test results, 8 bytes each.
const RESULTS: u64 = DATA + 0x100;
/// Data that breakpoints watch.
const WATCHED: u64 = 0x21000;

/// One recorded #DB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Db {
    dr6: u64,
    rip: u64,
    rflags: u64,
}

/// What a run left: how it ended, the #DB records, the #UD count and the results.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    outcome: Outcome,
    dbs: Vec<Db>,
    uds: u32,
    results: Vec<u64>,
}

/// #DB: record DR6 and the pushed RIP and RFLAGS, count, clear DR6's status bits, set RF in the pushed RFLAGS
/// (so a faulting instruction breakpoint lets its instruction run on return), IRETQ.
fn db_handler(a: &mut CodeAssembler) {
    let mut counted = a.create_label();
    a.push(rax).unwrap();
    a.push(rbx).unwrap();
    a.mov(ebx, dword_ptr(DB_COUNT as u32)).unwrap();
    a.cmp(ebx, RECORDS as u32).unwrap();
    a.jae(counted).unwrap();
    a.imul_3(ebx, ebx, 24).unwrap();
    a.mov(rax, dr6).unwrap();
    a.mov(qword_ptr(rbx + DB_RECORDS as u32), rax).unwrap();
    a.mov(rax, qword_ptr(rsp + 16)).unwrap();
    a.mov(qword_ptr(rbx + DB_RECORDS as u32 + 8), rax).unwrap();
    a.mov(rax, qword_ptr(rsp + 32)).unwrap();
    a.mov(qword_ptr(rbx + DB_RECORDS as u32 + 16), rax).unwrap();
    a.set_label(&mut counted).unwrap();
    a.inc(dword_ptr(DB_COUNT as u32)).unwrap();
    a.xor(eax, eax).unwrap();
    a.mov(dr6, rax).unwrap();
    a.or(qword_ptr(rsp + 32), RF as i32).unwrap();
    a.pop(rbx).unwrap();
    a.pop(rax).unwrap();
    a.iretq().unwrap();
}

/// #UD: count, skip the 3-byte instruction, IRETQ.
fn ud_handler(a: &mut CodeAssembler) {
    a.inc(dword_ptr(UD_COUNT as u32)).unwrap();
    a.add(qword_ptr(rsp), 3).unwrap();
    a.iretq().unwrap();
}

fn set_tf(a: &mut CodeAssembler) {
    a.pushfq().unwrap();
    a.or(qword_ptr(rsp), TF as i32).unwrap();
    a.popfq().unwrap();
}

fn clear_tf(a: &mut CodeAssembler) {
    a.pushfq().unwrap();
    a.and(qword_ptr(rsp), !(TF as i32)).unwrap();
    a.popfq().unwrap();
}

/// DR7 for breakpoint `n` enabled locally with R/W field `kind` and LEN field `len`.
fn control(n: usize, kind: u64, len: u64) -> u64 {
    dr7::FIXED_ONE | 1 << (2 * n) | kind << (16 + 4 * n) | len << (18 + 4 * n)
}

/// Runs `test` (with the handlers installed, ending in an ACPI power-off) under `engine`.
fn run_on(engine: EngineKind, test: &dyn Fn(&mut CodeAssembler)) -> Run {
    let mut vm: Vm = flat::long_mode_machine(engine, 1, |a| {
        test(a);
        common::acpi_power_off(a);
    });
    flat::set_handler(&mut vm, 1, DB_HANDLER, db_handler);
    flat::set_handler(&mut vm, 6, UD_HANDLER, ud_handler);
    let (outcome, _) = vm.run();
    let mut data = vec![0u8; 0x200];
    vm.board.memory.read_phys(DATA, &mut data);
    let q = |addr: u64| {
        let at = (addr - DATA) as usize;
        u64::from_le_bytes(data[at..at + 8].try_into().unwrap())
    };
    let count = q(DB_COUNT) as u32;
    let dbs = (0..u64::from(count).min(RECORDS))
        .map(|k| {
            let at = DB_RECORDS + 24 * k;
            Db {
                dr6: q(at),
                rip: q(at + 8),
                rflags: q(at + 16),
            }
        })
        .collect();
    Run {
        outcome,
        dbs,
        uds: q(UD_COUNT) as u32,
        results: (0..8).map(|k| q(RESULTS + 8 * k)).collect(),
    }
}

/// Runs `test` under every engine: each must record what the interpreter does; returns that.
///
/// `pvm_gap` says what this host's paravirtual KVM (PVM, whose instruction emulator runs guest kernel mode) does
/// not do that the test needs: there the guest still runs (and vx86 must report whatever PVM does cleanly), but
/// its record is not compared, and the test says so. On hardware KVM every engine is compared.
fn on_every_engine(pvm_gap: Option<&str>, test: impl Fn(&mut CodeAssembler)) -> Run {
    let mut runs = flat::engines()
        .into_iter()
        .map(|engine| (engine, run_on(engine, &test)));
    let (_, reference) = runs.next().expect("the interpreter runs");
    assert_eq!(reference.outcome, Outcome::PowerOff, "{reference:x?}");
    for (engine, run) in runs {
        if let (EngineKind::Kvm, Some(gap)) = (engine, pvm_gap) {
            if !common::usable_kvm().is_some_and(|h| h.hardware) {
                eprintln!("kvm: not compared, this paravirtual KVM {gap} (it gave {run:x?})");
                continue;
            }
        }
        assert_eq!(run, reference, "{engine} differs from interp");
    }
    reference
}

/// The address of the code `build` assembles after `prefix` in the test's code at [`CODE`].
fn address_after(prefix: impl FnOnce(&mut CodeAssembler)) -> u64 {
    CODE + flat::assemble(64, CODE, prefix).len() as u64
}

#[test]
fn tf_single_steps_from_the_instruction_after_popf_to_the_popf_that_clears_it() {
    let steps = |a: &mut CodeAssembler| {
        set_tf(a);
        a.nop().unwrap();
        a.mov(eax, 1).unwrap();
    };
    let run = on_every_engine(None, |a| {
        steps(a);
        clear_tf(a);
    });
    // Traps after NOP, MOV, PUSHFQ, AND and the POPFQ that clears TF (it ran with TF set).
    assert_eq!(run.dbs.len(), 5, "{run:x?}");
    let after_nop = address_after(|a| {
        set_tf(a);
        a.nop().unwrap();
    });
    assert_eq!(run.dbs[0].rip, after_nop);
    assert_eq!(run.dbs[1].rip, address_after(steps));
    for (k, db) in run.dbs.iter().enumerate() {
        assert_eq!(db.dr6 & (dr6::BS | dr6::HITS), dr6::BS, "{db:x?}");
        let last = k + 1 == run.dbs.len();
        assert_eq!(
            db.rflags & TF == 0,
            last,
            "TF pushed until the POPFQ cleared it"
        );
    }
}

#[test]
fn mov_ss_holds_the_single_step_trap_for_one_instruction() {
    let before_nop = |a: &mut CodeAssembler| {
        set_tf(a);
        a.mov(ax, ss).unwrap();
        a.mov(ss, ax).unwrap();
    };
    let run = on_every_engine(Some("traps after MOV SS too"), |a| {
        before_nop(a);
        a.nop().unwrap();
        clear_tf(a);
    });
    // After MOV AX,SS; then MOV SS holds its trap until after the NOP (one #DB, not two).
    assert_eq!(run.dbs.len(), 1 + 1 + 3, "{run:x?}");
    assert_eq!(run.dbs[1].rip, address_after(before_nop) + 1);
}

#[test]
fn an_instruction_breakpoint_faults_before_the_instruction_and_rf_lets_it_run() {
    let hit = |a: &mut CodeAssembler| a.inc(qword_ptr(RESULTS as u32)).unwrap();
    // DR0 = the address of the INC after a NOP; the INC faults, then runs once the handler returns with RF set.
    let arm_and_hit = |a: &mut CodeAssembler| {
        let mut target = a.create_label();
        a.lea(rax, ptr(target)).unwrap();
        a.mov(dr0, rax).unwrap();
        a.mov(eax, control(0, dr7::EXECUTE, 0) as u32).unwrap();
        a.mov(dr7, rax).unwrap();
        a.nop().unwrap();
        a.set_label(&mut target).unwrap();
        hit(a);
    };
    let target = address_after(arm_and_hit) - flat::assemble(64, 0, hit).len() as u64;
    let run = on_every_engine(None, |a| {
        arm_and_hit(a);
        a.xor(eax, eax).unwrap();
        a.mov(dr7, rax).unwrap();
    });
    assert_eq!(run.dbs.len(), 1, "{run:x?}");
    assert_eq!(
        run.dbs[0].rip, target,
        "a fault: the pushed RIP is the instruction's"
    );
    assert_eq!(run.dbs[0].dr6 & dr6::HITS, 1, "B0");
    assert_eq!(
        run.dbs[0].rflags & RF,
        0,
        "an instruction breakpoint pushes RF as it was"
    );
    assert_eq!(
        run.results[0], 1,
        "the instruction ran once, after the return with RF"
    );
}

#[test]
fn data_breakpoints_trap_after_the_access_they_watch() {
    let run = on_every_engine(Some("has no data breakpoints in kernel mode"), |a| {
        a.mov(eax, WATCHED as u32).unwrap();
        a.mov(dr1, rax).unwrap();
        a.mov(eax, control(1, dr7::WRITE, 3) as u32).unwrap();
        a.mov(dr7, rax).unwrap();
        // A read does not match a write breakpoint; a write does; a write to the next dword does not.
        a.mov(eax, dword_ptr(WATCHED as u32)).unwrap();
        a.mov(dword_ptr(WATCHED as u32), 5).unwrap();
        a.mov(dword_ptr(WATCHED as u32 + 4), 6).unwrap();
        // Read or write: now a read matches, through an unaligned access that overlaps the watched dword.
        a.mov(eax, control(1, dr7::READ_WRITE, 3) as u32).unwrap();
        a.mov(dr7, rax).unwrap();
        a.mov(rax, qword_ptr(WATCHED as u32 + 2)).unwrap();
        a.mov(qword_ptr(RESULTS as u32), rax).unwrap();
        a.xor(eax, eax).unwrap();
        a.mov(dr7, rax).unwrap();
    });
    assert_eq!(run.dbs.len(), 2, "{run:x?}");
    for db in &run.dbs {
        assert_eq!(db.dr6 & dr6::HITS, 2, "B1: {db:x?}");
    }
    assert_eq!(
        run.results[0],
        6 << 16,
        "the read completed before the trap"
    );
}

#[test]
fn general_detect_faults_on_a_debug_register_access_and_clears_gd() {
    let setup = |a: &mut CodeAssembler| {
        a.mov(eax, (dr7::FIXED_ONE | dr7::GD) as u32).unwrap();
        a.mov(dr7, rax).unwrap();
    };
    let run = on_every_engine(Some("pushes RF clear for the general-detect fault"), |a| {
        setup(a);
        a.mov(rax, dr0).unwrap(); // faults; runs after the handler returns, GD now clear
        a.mov(rax, dr7).unwrap();
        a.mov(qword_ptr(RESULTS as u32), rax).unwrap();
    });
    assert_eq!(run.dbs.len(), 1, "{run:x?}");
    assert_eq!(run.dbs[0].rip, address_after(setup), "a fault on the MOV");
    assert_ne!(run.dbs[0].dr6 & dr6::BD, 0, "BD");
    assert_ne!(
        run.dbs[0].rflags & RF,
        0,
        "a fault other than an instruction breakpoint pushes RF set"
    );
    assert_eq!(
        run.results[0] & dr7::GD,
        0,
        "GD is cleared on entry to the handler"
    );
}

#[test]
fn mov_dr4_aliases_dr6_without_cr4_de_and_is_undefined_with_it() {
    let run = on_every_engine(None, |a| {
        a.mov(rax, dr4).unwrap();
        a.mov(qword_ptr(RESULTS as u32), rax).unwrap();
        a.mov(rax, cr4).unwrap();
        a.or(eax, cr4::DE as i32).unwrap();
        a.mov(cr4, rax).unwrap();
        a.mov(rax, dr4).unwrap(); // #UD: the handler skips it
    });
    assert_eq!(run.results[0], dr6::FIXED_ONES, "DR4 reads as DR6");
    assert_eq!(run.uds, 1);
    assert!(run.dbs.is_empty());
}

#[test]
fn icebp_is_a_debug_trap_after_it() {
    let run = on_every_engine(Some("cannot emulate ICEBP"), |a| {
        a.db(&[0xF1]).unwrap();
        a.nop().unwrap();
    });
    assert_eq!(run.dbs.len(), 1, "{run:x?}");
    assert_eq!(
        run.dbs[0].rip,
        CODE + 1,
        "a trap: the pushed RIP follows ICEBP"
    );
    assert_eq!(run.dbs[0].dr6 & (dr6::HITS | dr6::BS), 0);
}
