//! AF and OF after a shift, made the interpreter's on a host that sets them otherwise (`host_flags`).
//!
//! Right after the host's shift, with its flags live: RAX is pushed, LAHF takes SF, ZF, AF, PF and CF into AH,
//! AH's AF bit is set and AL computes OF, then `add al, 7Fh` (which sets OF exactly when AL is 1) and SAHF put
//! them back, and RAX is popped (the shift may have written it). A SHR or SAR by more than one, whose OF is 0, needs
//! only the OR, which clears OF (SAHF leaves OF alone). A shift by CL checks the masked count first: zero leaves
//! the flags as they were. A rotate's OF comes from its result's top bits, read with BT from the destination (from
//! the pushed copy when that is RAX, whose AH LAHF has just overwritten).

use super::BlockEmitter;
use crate::plan::{ShiftCount, ShiftFix, ShiftKind};
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};

/// AF's bit in AH (as LAHF loads it).
const AF_IN_AH: i8 = 0x10;

impl BlockEmitter<'_> {
    /// Emits the fix of a shift's AF and OF (or a rotate's OF) described by `fix`; `host` maps guest registers to
    /// the host registers that hold them.
    pub(super) fn fix_shift_flags(&mut self, fix: ShiftFix, host: &[u8; 16]) {
        dynasm!(self.ops ; .arch x64 ; push rax ; lahf);
        match (fix.kind, fix.count) {
            (ShiftKind::Rotate { left, dst, width }, _) => {
                let reg = host[usize::from(dst)];
                let top = width as i8 - 1;
                self.copy_bit(reg, width, top);
                dynasm!(self.ops ; .arch x64 ; setc al);
                if left {
                    // CF is the result's lowest bit.
                    dynasm!(self.ops ; .arch x64 ; xor al, ah);
                } else {
                    self.copy_bit(reg, width, top - 1);
                    dynasm!(self.ops ; .arch x64 ; adc al, 0);
                }
                dynasm!(self.ops
                    ; .arch x64
                    ; and al, 1
                    ; add al, 0x7F
                    ; sahf
                );
            }
            (ShiftKind::Right, ShiftCount::Several)
            | (ShiftKind::Arithmetic, ShiftCount::One | ShiftCount::Several) => {
                dynasm!(self.ops ; .arch x64 ; or ah, AF_IN_AH ; sahf);
            }
            (kind, count) => {
                // AL: the host's OF, which stands for a SHR by one and for a count that is zero once masked.
                dynasm!(self.ops ; .arch x64 ; seto al);
                let put_back = self.ops.new_dynamic_label();
                if let ShiftCount::Cl(mask) = count {
                    dynasm!(self.ops ; .arch x64 ; test cl, mask as i8 ; jz =>put_back);
                }
                dynasm!(self.ops ; .arch x64 ; or ah, AF_IN_AH);
                match (kind, count) {
                    // The result's sign (AH bit 7) XOR CF (bit 0).
                    (ShiftKind::Left, _) => dynasm!(self.ops
                        ; .arch x64
                        ; mov al, ah
                        ; shr al, 7
                        ; xor al, ah
                        ; and al, 1
                    ),
                    (ShiftKind::Right, ShiftCount::Cl(mask)) => dynasm!(self.ops
                        ; .arch x64
                        ; push rcx
                        ; and cl, mask as i8
                        ; cmp cl, 1
                        ; pop rcx
                        ; je =>put_back
                        ; mov al, 0
                    ),
                    (ShiftKind::Arithmetic, ShiftCount::Cl(_)) => {
                        dynasm!(self.ops ; .arch x64 ; mov al, 0)
                    }
                    _ => {}
                }
                dynasm!(self.ops
                    ; .arch x64
                    ; =>put_back
                    ; add al, 0x7F
                    ; sahf
                );
            }
        }
        dynasm!(self.ops ; .arch x64 ; pop rax);
    }

    /// CF := bit `bit` of host register `reg`, `width` bits wide, after `push rax` (RAX's value is read from the
    /// stack).
    fn copy_bit(&mut self, reg: u8, width: u8, bit: i8) {
        match (reg, width) {
            (0, 64) => dynasm!(self.ops ; .arch x64 ; bt QWORD [rsp], bit),
            (0, _) => dynasm!(self.ops ; .arch x64 ; bt DWORD [rsp], bit),
            (_, 64) => dynasm!(self.ops ; .arch x64 ; bt Rq(reg), bit),
            _ => dynasm!(self.ops ; .arch x64 ; bt Rd(reg), bit),
        }
    }
}
