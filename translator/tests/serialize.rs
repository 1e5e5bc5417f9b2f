//! SERIALIZE (which Linux's `sync_core()` runs after every patch of its own text) and the fences (LFENCE, a
//! speculation barrier in Linux's user-copy and syscall paths; SFENCE; MFENCE) stay in generated code: the model
//! runs nothing ahead of time and one processor's stores in order, so they have nothing to wait for (and code
//! written meanwhile is caught by the write itself, which leaves the block when it hits the block's own page).

use iced_x86::code_asm::*;
use iced_x86::Mnemonic;
use vx86_cpu::testing::assemble;

mod common;
use common::{long_mode_guest, run_both, CODE};

#[test]
fn serialize_and_the_fences_run_in_generated_code() {
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 100).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rax, rcx).unwrap();
        a.serialize().unwrap();
        a.lfence().unwrap();
        a.sfence().unwrap();
        a.mfence().unwrap();
        a.dec(ecx).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 10_000);
    assert_eq!(runs.translated.state.gpr[0], 5050, "the loop around it ran");
    for m in [
        Mnemonic::Serialize,
        Mnemonic::Lfence,
        Mnemonic::Sfence,
        Mnemonic::Mfence,
    ] {
        assert_eq!(
            runs.translator.callouts.by_mnemonic[m as usize], 0,
            "{m:?} went to the step"
        );
    }
}
