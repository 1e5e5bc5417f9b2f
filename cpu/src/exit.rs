//! Why an engine returned to the machine: every engine (the interpreter, the translator, KVM) ends a run with an
//! [`Exit`].

/// Why an engine's run returned to the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// HLT with no interrupt to wake it: the machine may sleep until a device has something.
    Halted,
    /// The instruction budget ran out (or, for an engine that cannot count instructions, its time slice).
    BudgetExhausted,
    /// An exception occurred while delivering a double fault: the CPU shuts down.
    TripleFault,
    /// A device asked the machine to act (reset, power-off, debug exit) after an I/O access.
    DeviceRequest,
    /// The engine could not go on (KVM refused to enter or run the guest), with its reason.
    EngineFailed(String),
}
