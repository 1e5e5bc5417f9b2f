//! Cold code: a long run of distinct small blocks, each entered once, as a kernel's boot runs its init code. Under
//! bt nearly all of its time is translation, so its blocks per second measure what translating a block costs.

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, long_mode_cpu, FlatBus};
use vx86_cpu::Cpu;

/// Where the cold code is loaded (64-bit, identity-mapped).
const COLD_BASE: u64 = 0x10_0000;
/// The data its loads and stores use.
const COLD_DATA: u64 = 0x30_0000;

/// `blocks` blocks of 64-bit code in the shape of kernel code, ending in HLT. Each block loads, computes, stores,
/// compares and branches (taken or not, both ways lead to the next block); every fourth calls a shared leaf
/// function, so returns are looked up too.
pub fn cold_code(blocks: u32) -> Vec<u8> {
    assemble(64, COLD_BASE, |a| {
        let mut leaf = a.create_label();
        a.mov(rbx, COLD_DATA).unwrap();
        a.xor(esi, esi).unwrap();
        for k in 0..blocks {
            let mut next = a.create_label();
            let slot = 8 * (k % 64) as i32;
            a.mov(rax, qword_ptr(rbx + slot)).unwrap();
            a.add(rax, rcx).unwrap();
            a.lea(rdx, qword_ptr(rax + rcx * 2 + 5)).unwrap();
            a.mov(qword_ptr(rbx + slot + 8), rdx).unwrap();
            a.test(eax, eax).unwrap();
            if k % 4 == 0 {
                a.call(leaf).unwrap();
            }
            a.cmp(rdx, rsi).unwrap();
            a.jne(next).unwrap();
            a.inc(esi).unwrap();
            a.set_label(&mut next).unwrap();
        }
        a.hlt().unwrap();
        a.set_label(&mut leaf).unwrap();
        a.push(rbp).unwrap();
        a.mov(rbp, rsp).unwrap();
        a.add(rcx, 1).unwrap();
        a.pop(rbp).unwrap();
        a.ret().unwrap();
    })
}

/// A 64-bit machine (4 MiB of RAM, paging on) with `code` from [`cold_code`] loaded, ready to run.
pub fn cold_machine(code: &[u8]) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(4 << 20);
    bus.load(COLD_BASE, code);
    let cpu = long_mode_cpu(&mut bus, COLD_BASE, 0x28_0000);
    (cpu, bus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vx86_cpu::Exit;

    #[test]
    fn cold_code_runs_every_block_once_and_calls_the_leaf_from_every_fourth() {
        let (mut cpu, mut bus) = cold_machine(&cold_code(64));
        assert_eq!(cpu.run(&mut bus, 1_000_000), Exit::Halted);
        assert_eq!(cpu.state.gpr[1], 16, "RCX counts the leaf's calls");
        // 7 instructions a block, a CALL and the leaf's 5 in every fourth, the set-up's 2 and the HLT; each INC
        // runs where the block's compare found RDX equal to RSI.
        let incs = cpu.state.gpr[6];
        assert_eq!(cpu.instructions, 2 + 64 * 7 + 16 * 6 + incs + 1);
    }
}
