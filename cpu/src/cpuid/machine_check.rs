//! Machine-check architecture (SDM vol. 3, chapter 16): the model advertises MCE and MCA with a few banks that never
//! log an error, so that software which reads them (Linux's machine-check driver, test suites) finds the registers
//! it expects and nothing to report.
//!
//! IA32_MCG_CAP gives the bank count and no optional features (no MCG_CTL, no CMCI); IA32_MCG_STATUS reads 0 and
//! takes 0; each bank's MCi_CTL holds what software writes (Linux enables every error with all ones), and its
//! MCi_STATUS, MCi_ADDR and MCi_MISC read 0 and take only 0 (writing anything else is #GP, as on processors that
//! do not let software inject errors).

/// IA32_MCG_CAP: machine-check capabilities.
pub const MCG_CAP: u32 = 0x179;
/// IA32_MCG_STATUS: machine-check status (RIPV, EIPV, MCIP).
pub const MCG_STATUS: u32 = 0x17A;
/// IA32_MC0_CTL: the first bank's first register; bank `i` has CTL, STATUS, ADDR and MISC at `MC0_CTL + 4 * i`.
pub const MC0_CTL: u32 = 0x400;
/// Banks the model has.
pub const BANKS: u32 = 4;

/// Which register of a bank an MSR index names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankRegister {
    /// MCi_CTL: which errors the bank reports.
    Control,
    /// MCi_STATUS, MCi_ADDR or MCi_MISC: what a logged error would fill in.
    Log,
}

/// The bank register an MSR index names, if it names one of the model's banks.
pub fn bank_register(index: u32) -> Option<BankRegister> {
    let offset = index.checked_sub(MC0_CTL)?;
    if offset >= 4 * BANKS {
        return None;
    }
    Some(if offset % 4 == 0 {
        BankRegister::Control
    } else {
        BankRegister::Log
    })
}
