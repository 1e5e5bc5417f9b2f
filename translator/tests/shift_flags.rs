//! Shifts and rotates leave the flags Intel calls undefined (AF after a shift, OF after a count above one) as the
//! interpreter documents them, whatever the host does: on a host that sets them otherwise (Intel's), generated code
//! fixes them after each shift whose flags something may see, or runs the instruction in the step. Every shift
//! below is followed by PUSHFQ, so its flags are seen, and the run is compared with the interpreter's in full.

use iced_x86::code_asm::*;
use vx86_cpu::testing::assemble;

mod common;
use common::{long_mode_guest, run_both, CODE};

#[test]
fn shifts_and_rotates_leave_the_interpreters_flags() {
    let code = assemble(64, CODE, |a| {
        let values = [
            0x8000_0001_8000_0001u64,
            0x4000_0000_4000_0000,
            0x0123_4567_89AB_CDEF,
        ];
        for (k, &value) in values.iter().enumerate() {
            for count in [0u32, 1, 2, 7, 9, 31, 33, 63] {
                a.mov(rax, value).unwrap();
                a.mov(rdx, value.rotate_left(k as u32 * 7)).unwrap();
                a.mov(ecx, count).unwrap();
                // Start from every arithmetic flag set, then from none, so that kept flags show.
                if count % 2 == 0 {
                    a.stc().unwrap();
                    a.mov(r9, -1i64).unwrap();
                    a.add(r9, 1).unwrap();
                } else {
                    a.xor(r9d, r9d).unwrap();
                }
                a.shl(eax, count & 31).unwrap();
                a.pushfq().unwrap();
                a.shr(rdx, count & 63).unwrap();
                a.pushfq().unwrap();
                a.sar(dx, count & 31).unwrap();
                a.pushfq().unwrap();
                a.shl(rax, cl).unwrap();
                a.pushfq().unwrap();
                a.shr(edx, cl).unwrap();
                a.pushfq().unwrap();
                a.sar(rdx, cl).unwrap();
                a.pushfq().unwrap();
                a.rol(eax, count & 31).unwrap();
                a.pushfq().unwrap();
                a.ror(r10b, count & 31).unwrap();
                a.pushfq().unwrap();
                a.ror(ax, count & 31).unwrap();
                a.pushfq().unwrap();
                a.rol(rdx, cl).unwrap();
                a.pushfq().unwrap();
                a.shl(byte_ptr(rbx + 8 * k as i32), count & 31).unwrap();
                a.pushfq().unwrap();
                a.add(rsp, 11 * 8).unwrap();
            }
        }
        a.hlt().unwrap();
    });
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 100_000);
    assert!(runs.translated.instructions >= 600, "the shifts ran");
}
