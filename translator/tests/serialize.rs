//! SERIALIZE, which Linux's `sync_core()` runs after every patch of its own text, stays in generated code: the
//! model runs nothing ahead of time, so it has nothing to wait for (and code written meanwhile is caught by the
//! write itself, which leaves the block when it hits the block's own page).

use iced_x86::code_asm::*;
use iced_x86::Mnemonic;
use vx86_cpu::testing::assemble;

mod common;
use common::{long_mode_guest, run_both, CODE};

#[test]
fn serialize_runs_in_generated_code() {
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 100).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rax, rcx).unwrap();
        a.serialize().unwrap();
        a.dec(ecx).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 10_000);
    assert_eq!(runs.translated.state.gpr[0], 5050, "the loop around it ran");
    assert_eq!(
        runs.translator.callouts.by_mnemonic[Mnemonic::Serialize as usize],
        0,
        "SERIALIZE went to the step"
    );
}
