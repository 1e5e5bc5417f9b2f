//! Guest exceptions as values: every operation that can fault returns `Result<T, Fault>`.

/// An x86 exception raised while executing an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// #DE, vector 0: divide error.
    DivideError,
    /// #DB, vector 1: debug.
    Debug,
    /// #BP, vector 3: breakpoint (a trap: delivered after INT3).
    Breakpoint,
    /// #OF, vector 4: overflow (a trap: delivered after INTO).
    Overflow,
    /// #BR, vector 5: BOUND range exceeded.
    BoundRange,
    /// #UD, vector 6: invalid opcode.
    InvalidOpcode,
    /// #NM, vector 7: device not available.
    DeviceNotAvailable,
    /// #DF, vector 8: double fault (error code 0).
    DoubleFault,
    /// #TS, vector 10: invalid TSS, with its error code.
    InvalidTss(u16),
    /// #NP, vector 11: segment not present, with its error code.
    SegmentNotPresent(u16),
    /// #SS, vector 12: stack-segment fault, with its error code.
    StackFault(u16),
    /// #GP, vector 13: general protection, with its error code.
    GeneralProtection(u16),
    /// #PF, vector 14: page fault, with the faulting linear address (CR2) and error code.
    PageFault {
        /// Linear address that faulted.
        address: u64,
        /// Page-fault error code (P, W/R, U/S, RSVD, I/D bits).
        error: u32,
    },
    /// #MF, vector 16: x87 floating-point error.
    FloatingPoint,
    /// #AC, vector 17: alignment check.
    AlignmentCheck,
    /// #MC, vector 18: machine check.
    MachineCheck,
    /// #XM, vector 19: SIMD floating-point.
    SimdFloatingPoint,
}

/// Page-fault error-code bits.
pub mod pf {
    /// The fault was a protection violation (the page was present).
    pub const PRESENT: u32 = 1 << 0;
    /// The access was a write.
    pub const WRITE: u32 = 1 << 1;
    /// The access was made at CPL 3.
    pub const USER: u32 = 1 << 2;
    /// A reserved bit was set in a paging structure.
    pub const RESERVED: u32 = 1 << 3;
    /// The access was an instruction fetch.
    pub const FETCH: u32 = 1 << 4;
}

/// How an exception combines with one raised while delivering it (SDM vol. 3, table 6-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultClass {
    /// #DB, #NMI, #BP, #OF, #BR, #UD, #NM, #MF, #AC, #MC, #XM: never turn into a double fault.
    Benign,
    /// #DE, #TS, #NP, #SS, #GP.
    Contributory,
    /// #PF.
    PageFault,
    /// #DF itself.
    DoubleFault,
}

impl Fault {
    /// The interrupt vector of this exception.
    pub fn vector(&self) -> u8 {
        match self {
            Fault::DivideError => 0,
            Fault::Debug => 1,
            Fault::Breakpoint => 3,
            Fault::Overflow => 4,
            Fault::BoundRange => 5,
            Fault::InvalidOpcode => 6,
            Fault::DeviceNotAvailable => 7,
            Fault::DoubleFault => 8,
            Fault::InvalidTss(_) => 10,
            Fault::SegmentNotPresent(_) => 11,
            Fault::StackFault(_) => 12,
            Fault::GeneralProtection(_) => 13,
            Fault::PageFault { .. } => 14,
            Fault::FloatingPoint => 16,
            Fault::AlignmentCheck => 17,
            Fault::MachineCheck => 18,
            Fault::SimdFloatingPoint => 19,
        }
    }

    /// The error code pushed with this exception in protected mode, if it has one.
    pub fn error_code(&self) -> Option<u32> {
        match *self {
            Fault::DoubleFault | Fault::AlignmentCheck => Some(0),
            Fault::InvalidTss(e)
            | Fault::SegmentNotPresent(e)
            | Fault::StackFault(e)
            | Fault::GeneralProtection(e) => Some(u32::from(e)),
            Fault::PageFault { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The double-fault class of this exception.
    pub fn class(&self) -> FaultClass {
        match self {
            Fault::DivideError
            | Fault::InvalidTss(_)
            | Fault::SegmentNotPresent(_)
            | Fault::StackFault(_)
            | Fault::GeneralProtection(_) => FaultClass::Contributory,
            Fault::PageFault { .. } => FaultClass::PageFault,
            Fault::DoubleFault => FaultClass::DoubleFault,
            _ => FaultClass::Benign,
        }
    }

    /// Whether this is a trap, reported with the instruction pointer after the instruction (INT3, INTO).
    pub fn is_trap(&self) -> bool {
        matches!(self, Fault::Breakpoint | Fault::Overflow)
    }

    /// Whether the RFLAGS image pushed for this exception has RF set, so that the instruction it restarts is not
    /// stopped again by an instruction breakpoint: true for every fault (SDM vol. 3, 17.3.1.1). #DB sets RF itself
    /// where it is a fault other than an instruction breakpoint (general detect); traps and aborts push RF as it is.
    pub fn pushes_resume_flag(&self) -> bool {
        !matches!(
            self,
            Fault::Debug
                | Fault::Breakpoint
                | Fault::Overflow
                | Fault::DoubleFault
                | Fault::MachineCheck
        )
    }

    /// Short mnemonic such as `#GP`, for traces.
    pub fn mnemonic(&self) -> &'static str {
        vector_mnemonic(self.vector()).unwrap_or("#??")
    }
}

/// The vector of the non-maskable interrupt.
pub const NMI_VECTOR: u8 = 2;

/// The mnemonic of an exception vector (`#PF` for 14); `None` for reserved and interrupt vectors.
pub fn vector_mnemonic(vector: u8) -> Option<&'static str> {
    const NAMES: [&str; 21] = [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "", "#TS", "#NP", "#SS",
        "#GP", "#PF", "", "#MF", "#AC", "#MC", "#XM", "#VE",
    ];
    NAMES
        .get(usize::from(vector))
        .copied()
        .filter(|n| !n.is_empty())
}

/// Shorthand for `Err(Fault::GeneralProtection(code))`.
pub fn gp<T>(code: u16) -> Result<T, Fault> {
    Err(Fault::GeneralProtection(code))
}
