//! VM exits counted by reason: what `-d stats` prints under `-accel kvm`.

use std::fmt;

/// How often each kind of VM exit (and interrupt injection) happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitStats {
    /// KVM_EXIT_IO, guest IN/INS.
    pub io_in: u64,
    /// KVM_EXIT_IO, guest OUT/OUTS.
    pub io_out: u64,
    /// KVM_EXIT_MMIO reads (unbacked or MMIO addresses).
    pub mmio_read: u64,
    /// KVM_EXIT_MMIO writes (including writes to read-only ROM slots).
    pub mmio_write: u64,
    /// KVM_EXIT_HLT.
    pub hlt: u64,
    /// KVM_EXIT_IRQ_WINDOW_OPEN: the guest became able to take the interrupt we were holding.
    pub irq_window: u64,
    /// KVM_EXIT_INTR or EINTR: the vCPU was kicked out so the machine could serve its timers.
    pub kick: u64,
    /// KVM_EXIT_SHUTDOWN (triple fault).
    pub shutdown: u64,
    /// Any other exit (internal error, failed entry, unknown).
    pub other: u64,
    /// Interrupts injected with KVM_INTERRUPT (not exits; shown beside them).
    pub injected: u64,
}

impl ExitStats {
    /// Total VM exits.
    pub fn total(&self) -> u64 {
        self.io_in
            + self.io_out
            + self.mmio_read
            + self.mmio_write
            + self.hlt
            + self.irq_window
            + self.kick
            + self.shutdown
            + self.other
    }

    /// (reason, count) rows in a fixed order.
    pub fn rows(&self) -> [(&'static str, u64); 10] {
        [
            ("io (in)", self.io_in),
            ("io (out)", self.io_out),
            ("mmio (read)", self.mmio_read),
            ("mmio (write)", self.mmio_write),
            ("hlt", self.hlt),
            ("interrupt window", self.irq_window),
            ("kick (timer signal)", self.kick),
            ("shutdown", self.shutdown),
            ("other", self.other),
            ("interrupts injected", self.injected),
        ]
    }
}

impl fmt::Display for ExitStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "VM exits by reason (kvm):")?;
        for (what, n) in self.rows() {
            writeln!(f, "  {what:<22} {n:>12}")?;
        }
        write!(f, "  {:<22} {:>12}", "total exits", self.total())
    }
}
