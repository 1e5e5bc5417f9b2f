//! The `vx86` process's exit statuses, in one place, so that a test runner can always tell how a run ended.
//!
//! A guest's isa-debug-exit write of V ends the run with `(V << 1) | 1`, cut to 8 bits as QEMU's `exit()` is: an odd
//! status. Every status vx86 gives of its own is even, so none can be mistaken for a guest's debug exit (QEMU
//! itself exits with 1 on a bad option, which a runner cannot tell from a guest's `outb(0, 0xf4)`):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the guest powered off, or reset under `-no-reboot` |
//! | odd | the guest's isa-debug-exit status `(V << 1) \| 1` |
//! | 2 | vx86 could not start: a bad flag, value or image, or an engine this host cannot run |
//! | 4 | the guest triple-faulted |
//! | 6 | the guest kernel reported a panic through pvpanic |
//! | 8 | `-max-instructions` ran out |
//! | 10 | the guest halted with interrupts off for good |
//! | 12 | the engine stopped the guest (KVM refused to emulate or enter it) |
//! | 14 | vx86 itself failed (a bug: it panicked) |

/// The guest powered the machine off (or reset it under `-no-reboot`).
pub const POWER_OFF: u8 = 0;
/// vx86 could not start the guest: a bad flag, value or image, or an engine the host cannot run.
pub const USAGE: u8 = 2;
/// The guest triple-faulted.
pub const TRIPLE_FAULT: u8 = 4;
/// The guest kernel reported a panic through pvpanic.
pub const GUEST_PANICKED: u8 = 6;
/// `-max-instructions` ran out.
pub const INSTRUCTION_LIMIT: u8 = 8;
/// The guest halted with interrupts disabled and can never resume.
pub const HALTED_FOREVER: u8 = 10;
/// The engine could not go on with the guest (KVM refused it).
pub const ENGINE_FAILED: u8 = 12;
/// vx86 panicked: a bug in vx86, not in the guest.
pub const INTERNAL_ERROR: u8 = 14;

/// The status of an isa-debug-exit request: `(V << 1) | 1` as the device computed it, cut to 8 bits as a process
/// exit status is (QEMU's `exit()` does the same), so it stays odd.
pub fn debug_exit(status: i32) -> u8 {
    (status & 0xFF) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vx86s_own_statuses_are_even_and_distinct_and_debug_exits_odd() {
        let own = [
            POWER_OFF,
            USAGE,
            TRIPLE_FAULT,
            GUEST_PANICKED,
            INSTRUCTION_LIMIT,
            HALTED_FOREVER,
            ENGINE_FAILED,
            INTERNAL_ERROR,
        ];
        for (k, s) in own.iter().enumerate() {
            assert_eq!(s % 2, 0, "status {s} is even");
            assert!(!own[..k].contains(s), "status {s} is used once");
        }
        for v in [0u32, 1, 0x7F, 0x80, 0xFF, 0x1FF, 0xFFFF_FFFF] {
            let device_status = ((v << 1) | 1) as i32;
            assert_eq!(debug_exit(device_status) % 2, 1, "V = {v:#x}");
        }
        assert_eq!(debug_exit(0x101), 1, "V = 0x80 wraps as under QEMU");
    }
}
