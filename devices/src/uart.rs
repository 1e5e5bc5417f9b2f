//! National Semiconductor 16550A UART (COM1 at 0x3F8, IRQ4 on a PC).
//!
//! Transmission is instantaneous: a byte written to THR goes straight to the output sink (flushed at once so a
//! console user sees prompts), so THR and the transmitter are always empty again right after the write. Input comes
//! from a channel fed by a host thread; the UART only takes bytes from it when its receiver has room, so host input
//! is never dropped. In FIFO mode, a non-empty receive FIFO below the trigger level reports the character timeout
//! interrupt at once (the model has no bit times to wait for).
//!
//! The interrupt output is not gated by MCR OUT2 (QEMU behaves the same way), so guests that never set OUT2 still
//! get interrupts.

use std::collections::VecDeque;
use std::io::Write;

use crossbeam_channel::Receiver;

use crate::bus::{IoDevice, OPEN_BUS};

/// Base port of COM1.
pub const COM1_BASE: u16 = 0x3F8;
/// ISA IRQ of COM1.
pub const COM1_IRQ: u8 = 4;

/// Receiver buffer (read) / transmitter holding (write) register; divisor latch LSB with DLAB.
const RBR_THR: u16 = 0;
/// Interrupt enable register; divisor latch MSB with DLAB.
const IER: u16 = 1;
/// Interrupt identification (read) / FIFO control (write).
const IIR_FCR: u16 = 2;
/// Line control register.
const LCR: u16 = 3;
/// Modem control register.
const MCR: u16 = 4;
/// Line status register.
const LSR: u16 = 5;
/// Modem status register.
const MSR: u16 = 6;
/// Scratch register.
const SCR: u16 = 7;

/// IER: received data available.
pub const IER_ERBFI: u8 = 0x01;
/// IER: transmitter holding register empty.
pub const IER_ETBEI: u8 = 0x02;
/// IER: receiver line status.
pub const IER_ELSI: u8 = 0x04;
/// IER: modem status.
pub const IER_EDSSI: u8 = 0x08;
/// IIR: no interrupt pending.
pub const IIR_NO_INT: u8 = 0x01;
/// IIR: modem status change.
pub const IIR_MODEM_STATUS: u8 = 0x00;
/// IIR: THR empty.
pub const IIR_THRE: u8 = 0x02;
/// IIR: received data available (trigger level reached).
pub const IIR_RDA: u8 = 0x04;
/// IIR: receiver line status (overrun, parity, framing, break).
pub const IIR_RLS: u8 = 0x06;
/// IIR: character timeout (data below the trigger level).
pub const IIR_CTI: u8 = 0x0C;
/// IIR: FIFOs enabled (both bits).
pub const IIR_FIFO_ENABLED: u8 = 0xC0;
/// FCR: enable FIFOs.
pub const FCR_FIFO_ENABLE: u8 = 0x01;
/// FCR: clear receive FIFO.
pub const FCR_RX_RESET: u8 = 0x02;
/// FCR: clear transmit FIFO.
pub const FCR_TX_RESET: u8 = 0x04;
/// LCR: divisor latch access bit.
pub const LCR_DLAB: u8 = 0x80;
/// MCR: data terminal ready.
pub const MCR_DTR: u8 = 0x01;
/// MCR: request to send.
pub const MCR_RTS: u8 = 0x02;
/// MCR: OUT1.
pub const MCR_OUT1: u8 = 0x04;
/// MCR: OUT2 (gates the IRQ on a real PC).
pub const MCR_OUT2: u8 = 0x08;
/// MCR: loopback.
pub const MCR_LOOP: u8 = 0x10;
/// LSR: data ready.
pub const LSR_DR: u8 = 0x01;
/// LSR: overrun error.
pub const LSR_OE: u8 = 0x02;
/// LSR: parity error.
pub const LSR_PE: u8 = 0x04;
/// LSR: framing error.
pub const LSR_FE: u8 = 0x08;
/// LSR: break interrupt.
pub const LSR_BI: u8 = 0x10;
/// LSR: transmitter holding register empty.
pub const LSR_THRE: u8 = 0x20;
/// LSR: transmitter empty.
pub const LSR_TEMT: u8 = 0x40;
/// MSR: delta CTS.
pub const MSR_DCTS: u8 = 0x01;
/// MSR: delta DSR.
pub const MSR_DDSR: u8 = 0x02;
/// MSR: trailing edge ring indicator.
pub const MSR_TERI: u8 = 0x04;
/// MSR: delta DCD.
pub const MSR_DDCD: u8 = 0x08;
/// MSR: clear to send.
pub const MSR_CTS: u8 = 0x10;
/// MSR: data set ready.
pub const MSR_DSR: u8 = 0x20;
/// MSR: ring indicator.
pub const MSR_RI: u8 = 0x40;
/// MSR: data carrier detect.
pub const MSR_DCD: u8 = 0x80;

/// Depth of the 16550A FIFOs.
pub const FIFO_LEN: usize = 16;

/// A 16550A with an output sink and an input channel.
pub struct Uart {
    /// Where transmitted bytes go (None: discarded).
    out: Option<Box<dyn Write + Send>>,
    /// Where received bytes come from (None: nothing ever arrives).
    input: Option<Receiver<u8>>,
    /// Receive FIFO (holds at most 1 byte when FIFOs are off).
    rx: VecDeque<u8>,
    /// Interrupt enable register.
    ier: u8,
    /// Line control register.
    lcr: u8,
    /// Modem control register.
    mcr: u8,
    /// Error bits of the line status register (OE, PE, FE, BI), cleared on read.
    lsr_errors: u8,
    /// Modem status register (lines and deltas).
    msr: u8,
    /// Scratch register.
    scr: u8,
    /// Divisor latch.
    divisor: u16,
    /// FIFOs enabled (FCR bit 0).
    fifo_enabled: bool,
    /// Receive FIFO trigger level in bytes (1, 4, 8 or 14).
    rx_trigger: usize,
    /// A THR-empty interrupt is pending (set when THR empties or ETBEI is enabled, cleared by reading IIR while
    /// it is the reported cause or by writing THR).
    thre_pending: bool,
}

impl std::fmt::Debug for Uart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uart")
            .field("rx", &self.rx)
            .field("ier", &self.ier)
            .field("lcr", &self.lcr)
            .field("mcr", &self.mcr)
            .field("fifo_enabled", &self.fifo_enabled)
            .finish_non_exhaustive()
    }
}

impl Uart {
    /// A UART in reset state, sending to `out` and receiving from `input`.
    pub fn new(out: Option<Box<dyn Write + Send>>, input: Option<Receiver<u8>>) -> Self {
        Self {
            out,
            input,
            rx: VecDeque::with_capacity(FIFO_LEN),
            ier: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr: MSR_CTS | MSR_DSR | MSR_DCD,
            scr: 0,
            divisor: 12,
            fifo_enabled: false,
            rx_trigger: 1,
            thre_pending: false,
        }
    }

    /// Hardware reset (MR pin): every register to its reset value; the sink and input channel stay connected.
    pub fn reset(&mut self) {
        let out = self.out.take();
        let input = self.input.take();
        *self = Self::new(out, input);
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO_LEN
        } else {
            1
        }
    }

    /// Puts a received byte in the receiver; with no room, the byte is lost and OE is set.
    fn receive(&mut self, b: u8) {
        if self.rx.len() < self.rx_capacity() {
            self.rx.push_back(b);
        } else {
            self.lsr_errors |= LSR_OE;
        }
    }

    /// Takes host input into the receiver while it has room (never blocks). Not in loopback mode, where the
    /// receiver is cut off from the outside.
    pub fn poll_input(&mut self) {
        if self.mcr & MCR_LOOP != 0 {
            return;
        }
        let Some(input) = &self.input else { return };
        let cap = self.rx_capacity();
        while self.rx.len() < cap {
            match input.try_recv() {
                Ok(b) => self.rx.push_back(b),
                Err(_) => break,
            }
        }
    }

    fn transmit(&mut self, b: u8) {
        if self.mcr & MCR_LOOP != 0 {
            self.receive(b);
        } else if let Some(out) = &mut self.out {
            // A console that went away must not stop the guest: errors are dropped.
            let _ = out.write_all(&[b]);
            let _ = out.flush();
        }
        self.thre_pending = true;
    }

    /// The interrupt cause IIR reports now (IIR_NO_INT if none), by 16550A priority.
    fn interrupt_id(&self) -> u8 {
        if self.ier & IER_ELSI != 0 && self.lsr_errors != 0 {
            IIR_RLS
        } else if self.ier & IER_ERBFI != 0 && !self.rx.is_empty() {
            if !self.fifo_enabled || self.rx.len() >= self.rx_trigger {
                IIR_RDA
            } else {
                IIR_CTI
            }
        } else if self.ier & IER_ETBEI != 0 && self.thre_pending {
            IIR_THRE
        } else if self.ier & IER_EDSSI != 0
            && self.msr & (MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD) != 0
        {
            IIR_MODEM_STATUS
        } else {
            IIR_NO_INT
        }
    }

    /// The interrupt output.
    pub fn irq(&self) -> bool {
        self.interrupt_id() != IIR_NO_INT
    }

    fn lsr(&self) -> u8 {
        let mut v = self.lsr_errors | LSR_THRE | LSR_TEMT;
        if !self.rx.is_empty() {
            v |= LSR_DR;
        }
        v
    }

    /// Recomputes MSR from MCR in loopback mode (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2), setting the delta bits.
    fn update_msr(&mut self) {
        let lines = if self.mcr & MCR_LOOP != 0 {
            let m = self.mcr;
            let mut l = 0;
            if m & MCR_RTS != 0 {
                l |= MSR_CTS;
            }
            if m & MCR_DTR != 0 {
                l |= MSR_DSR;
            }
            if m & MCR_OUT1 != 0 {
                l |= MSR_RI;
            }
            if m & MCR_OUT2 != 0 {
                l |= MSR_DCD;
            }
            l
        } else {
            MSR_CTS | MSR_DSR | MSR_DCD
        };
        let old = self.msr & 0xF0;
        let changed = old ^ lines;
        let mut delta = self.msr & 0x0F;
        if changed & MSR_CTS != 0 {
            delta |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            delta |= MSR_DDSR;
        }
        if changed & MSR_DCD != 0 {
            delta |= MSR_DDCD;
        }
        if old & MSR_RI != 0 && lines & MSR_RI == 0 {
            delta |= MSR_TERI;
        }
        self.msr = lines | delta;
    }

    fn write_fcr(&mut self, v: u8) {
        let enable = v & FCR_FIFO_ENABLE != 0;
        if enable != self.fifo_enabled {
            // Changing the FIFO mode clears both FIFOs.
            self.rx.clear();
        }
        self.fifo_enabled = enable;
        if v & FCR_RX_RESET != 0 {
            self.rx.clear();
        }
        self.rx_trigger = match v >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        };
        if !enable {
            self.rx.truncate(1);
        }
    }
}

impl IoDevice for Uart {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        let dlab = self.lcr & LCR_DLAB != 0;
        let v = match port.wrapping_sub(COM1_BASE) {
            RBR_THR if dlab => self.divisor as u8,
            RBR_THR => {
                let b = self.rx.pop_front().unwrap_or(0);
                self.poll_input();
                b
            }
            IER if dlab => (self.divisor >> 8) as u8,
            IER => self.ier,
            IIR_FCR => {
                let id = self.interrupt_id();
                if id == IIR_THRE {
                    self.thre_pending = false;
                }
                id | if self.fifo_enabled {
                    IIR_FIFO_ENABLED
                } else {
                    0
                }
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let v = self.lsr();
                self.lsr_errors = 0;
                v
            }
            MSR => {
                let v = self.msr;
                self.msr &= 0xF0;
                v
            }
            SCR => self.scr,
            _ => return OPEN_BUS,
        };
        u32::from(v)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        let v = value as u8;
        let dlab = self.lcr & LCR_DLAB != 0;
        match port.wrapping_sub(COM1_BASE) {
            RBR_THR if dlab => self.divisor = (self.divisor & 0xFF00) | u16::from(v),
            RBR_THR => self.transmit(v),
            IER if dlab => self.divisor = (self.divisor & 0x00FF) | u16::from(v) << 8,
            IER => {
                let old = self.ier;
                self.ier = v & 0x0F;
                // Enabling ETBEI while THR is empty (it always is) raises the THRE interrupt.
                if old & IER_ETBEI == 0 && self.ier & IER_ETBEI != 0 {
                    self.thre_pending = true;
                }
            }
            IIR_FCR => self.write_fcr(v),
            LCR => self.lcr = v,
            MCR => {
                self.mcr = v & 0x1F;
                self.update_msr();
                self.poll_input();
            }
            SCR => self.scr = v,
            _ => {} // LSR and MSR are read only
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_sink::SharedSink as Shared;

    fn rd(u: &mut Uart, reg: u16) -> u8 {
        u.io_read(COM1_BASE + reg, 1) as u8
    }

    fn wr(u: &mut Uart, reg: u16, v: u8) {
        u.io_write(COM1_BASE + reg, 1, u32::from(v));
    }

    #[test]
    fn output_sink_gets_bytes_and_lsr_is_empty() {
        let sink = Shared::default();
        let mut u = Uart::new(Some(Box::new(sink.clone())), None);
        assert_eq!(rd(&mut u, LSR), LSR_THRE | LSR_TEMT);
        for b in b"hi\n" {
            wr(&mut u, RBR_THR, *b);
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"hi\n");
        assert_eq!(rd(&mut u, LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(rd(&mut u, IIR_FCR), IIR_NO_INT);
    }

    #[test]
    fn divisor_latch_and_scratch() {
        let mut u = Uart::new(None, None);
        wr(&mut u, LCR, LCR_DLAB | 0x03);
        wr(&mut u, RBR_THR, 0x01);
        wr(&mut u, IER, 0x00);
        assert_eq!(rd(&mut u, RBR_THR), 0x01);
        assert_eq!(rd(&mut u, IER), 0x00);
        wr(&mut u, LCR, 0x03);
        assert_eq!(rd(&mut u, LCR), 0x03);
        assert_eq!(u.divisor, 1);
        wr(&mut u, SCR, 0x5A);
        assert_eq!(rd(&mut u, SCR), 0x5A);
        assert_eq!(u.io_read(COM1_BASE + 8, 1), OPEN_BUS);
    }

    #[test]
    fn thre_interrupt_semantics() {
        let mut u = Uart::new(None, None);
        assert!(!u.irq());
        wr(&mut u, IER, IER_ETBEI);
        assert!(u.irq(), "enabling ETBEI with THR empty interrupts");
        assert_eq!(rd(&mut u, IIR_FCR), IIR_THRE);
        assert!(!u.irq(), "reading IIR clears the THRE cause");
        assert_eq!(rd(&mut u, IIR_FCR), IIR_NO_INT);
        wr(&mut u, RBR_THR, b'x');
        assert!(u.irq(), "THR empties again after a write");
        wr(&mut u, IER, 0);
        assert!(!u.irq());
    }

    #[test]
    fn loopback_fifo_trigger_and_priorities() {
        let mut u = Uart::new(None, None);
        wr(&mut u, IIR_FCR, 0x47); // FIFO on, clear both, trigger 4
        wr(&mut u, MCR, MCR_LOOP | MCR_RTS | MCR_OUT2);
        assert_eq!(rd(&mut u, MSR), MSR_CTS | MSR_DCD | MSR_DDSR);
        assert_eq!(rd(&mut u, MSR), MSR_CTS | MSR_DCD, "deltas clear on read");
        wr(&mut u, IER, IER_ERBFI | IER_ETBEI | IER_ELSI);
        wr(&mut u, RBR_THR, b'a');
        assert_eq!(rd(&mut u, LSR) & LSR_DR, LSR_DR);
        assert_eq!(
            rd(&mut u, IIR_FCR),
            IIR_FIFO_ENABLED | IIR_CTI,
            "below trigger: timeout"
        );
        for b in b"bcd" {
            wr(&mut u, RBR_THR, *b);
        }
        assert_eq!(rd(&mut u, IIR_FCR), IIR_FIFO_ENABLED | IIR_RDA);
        for b in b"efghijklmnopqrstu" {
            wr(&mut u, RBR_THR, *b);
        }
        assert_eq!(
            rd(&mut u, IIR_FCR),
            IIR_FIFO_ENABLED | IIR_RLS,
            "overrun is the top priority"
        );
        assert_eq!(rd(&mut u, LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
        assert_eq!(rd(&mut u, LSR) & LSR_OE, 0, "OE clears on read");
        let got: Vec<u8> = (0..16).map(|_| rd(&mut u, RBR_THR)).collect();
        assert_eq!(&got, b"abcdefghijklmnop");
        assert_eq!(rd(&mut u, LSR) & LSR_DR, 0);
        assert_eq!(rd(&mut u, IIR_FCR), IIR_FIFO_ENABLED | IIR_THRE);
    }

    #[test]
    fn non_fifo_mode_holds_one_byte() {
        let mut u = Uart::new(None, None);
        wr(&mut u, MCR, MCR_LOOP);
        wr(&mut u, RBR_THR, 1);
        wr(&mut u, RBR_THR, 2);
        assert_eq!(rd(&mut u, LSR) & (LSR_DR | LSR_OE), LSR_DR | LSR_OE);
        assert_eq!(rd(&mut u, RBR_THR), 1);
        assert_eq!(rd(&mut u, LSR) & LSR_DR, 0);
    }

    #[test]
    fn input_channel_feeds_the_receiver() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut u = Uart::new(None, Some(rx));
        wr(&mut u, IER, IER_ERBFI);
        u.poll_input();
        assert!(!u.irq());
        tx.send(b'o').unwrap();
        tx.send(b'k').unwrap();
        u.poll_input();
        assert!(u.irq());
        assert_eq!(rd(&mut u, IIR_FCR), IIR_RDA);
        assert_eq!(rd(&mut u, RBR_THR), b'o');
        assert_eq!(
            rd(&mut u, RBR_THR),
            b'k',
            "refilled from the channel after a read"
        );
        assert!(!u.irq());
        drop(tx);
        u.poll_input(); // a disconnected channel is just quiet
        assert_eq!(rd(&mut u, LSR) & LSR_DR, 0);
    }
}
