//! The device driven through its ports the way SeaBIOS drives it, with a flat RAM for DMA.

use super::dma::*;
use super::items::*;
use super::*;
use crate::dma::DmaMemory;

/// RAM for the DMA tests.
const RAM: usize = 0x1_0000;
/// Where the tests put a descriptor.
const DESC: u64 = 0x1000;
/// Where the tests put a DMA buffer.
const BUF: u64 = 0x2000;

fn device() -> FwCfg {
    let mut items = FwCfgItems::new();
    items.add_u64(FW_CFG_RAM_SIZE, 128 << 20);
    items.add_u16(FW_CFG_NB_CPUS, 2);
    items
        .add_file("etc/hello", b"hello, world".to_vec())
        .unwrap();
    items.add_file("etc/e820", vec![0xAB; 40]).unwrap();
    FwCfg::new(items)
}

fn read_item(dev: &mut FwCfg, key: u16, len: usize) -> Vec<u8> {
    dev.io_write(FW_CFG_PORT_SEL, 2, u32::from(key));
    (0..len)
        .map(|_| dev.io_read(FW_CFG_PORT_DATA, 1) as u8)
        .collect()
}

/// Writes a descriptor at `DESC`, starts it the way SeaBIOS does (high half, then low half, big-endian) and runs
/// it; returns the control word the device wrote back.
fn dma(dev: &mut FwCfg, ram: &mut Vec<u8>, control: u32, length: u32, address: u64) -> u32 {
    let mut d = Vec::new();
    d.extend_from_slice(&control.to_be_bytes());
    d.extend_from_slice(&length.to_be_bytes());
    d.extend_from_slice(&address.to_be_bytes());
    ram.dma_write(DESC, &d).unwrap();
    start_dma(dev, DESC);
    assert!(dev.dma_pending());
    assert!(dev.run_dma(ram));
    assert!(!dev.dma_pending());
    u32::from_be_bytes(ram[DESC as usize..DESC as usize + 4].try_into().unwrap())
}

/// The two OUTs that start a transfer: what `outl(cpu_to_be32(x), port)` puts on the bus.
fn start_dma(dev: &mut FwCfg, descriptor: u64) {
    dev.io_write(FW_CFG_PORT_DMA, 4, ((descriptor >> 32) as u32).swap_bytes());
    dev.io_write(FW_CFG_PORT_DMA + 4, 4, (descriptor as u32).swap_bytes());
}

#[test]
fn signature_id_and_numeric_items_read_through_the_data_port() {
    let mut dev = device();
    assert_eq!(read_item(&mut dev, FW_CFG_SIGNATURE, 4), b"QEMU");
    let id = u32::from_le_bytes(read_item(&mut dev, FW_CFG_ID, 4).try_into().unwrap());
    assert_eq!(id, FW_CFG_VERSION_TRADITIONAL | FW_CFG_VERSION_DMA);
    let ram = read_item(&mut dev, FW_CFG_RAM_SIZE, 8);
    assert_eq!(u64::from_le_bytes(ram.try_into().unwrap()), 128 << 20);
    assert_eq!(read_item(&mut dev, FW_CFG_NB_CPUS, 2), [2, 0]);
    // The write-channel bit selects the same item; a byte read of the selector port reads data too.
    dev.io_write(
        FW_CFG_PORT_SEL,
        2,
        u32::from(FW_CFG_SIGNATURE | FW_CFG_WRITE_CHANNEL),
    );
    assert_eq!(dev.io_read(FW_CFG_PORT_SEL, 1), u32::from(b'Q'));
    assert_eq!(dev.io_read(FW_CFG_PORT_DATA, 1), u32::from(b'E'));
}

#[test]
fn reads_past_the_end_and_of_unknown_keys_are_zero_and_data_writes_are_ignored() {
    let mut dev = device();
    assert_eq!(read_item(&mut dev, FW_CFG_SIGNATURE, 7), b"QEMU\0\0\0");
    assert_eq!(read_item(&mut dev, 0x7FF, 3), [0, 0, 0]);
    assert_eq!(read_item(&mut dev, 0xFFFF, 3), [0, 0, 0]);
    dev.io_write(FW_CFG_PORT_SEL, 2, u32::from(FW_CFG_SIGNATURE));
    dev.io_write(FW_CFG_PORT_DATA, 1, 0x55);
    dev.io_write(FW_CFG_PORT_SEL, 1, 0x01);
    assert_eq!(dev.io_read(FW_CFG_PORT_DATA, 1), u32::from(b'Q'));
    // Wider data reads are refused, and do not move the position.
    assert_eq!(dev.io_read(FW_CFG_PORT_DATA, 2), OPEN_BUS);
    assert_eq!(dev.io_read(FW_CFG_PORT_DATA, 1), u32::from(b'E'));
    // Reselecting rewinds.
    assert_eq!(read_item(&mut dev, FW_CFG_SIGNATURE, 2), b"QE");
}

#[test]
fn file_directory_lists_every_file_big_endian() {
    let mut dev = device();
    let count = u32::from_be_bytes(read_item(&mut dev, FW_CFG_FILE_DIR, 4).try_into().unwrap());
    assert_eq!(count, 2);
    let mut entries = Vec::new();
    for _ in 0..count {
        let e: Vec<u8> = (0..FILE_ENTRY_LEN)
            .map(|_| dev.io_read(FW_CFG_PORT_DATA, 1) as u8)
            .collect();
        let size = u32::from_be_bytes(e[0..4].try_into().unwrap());
        let select = u16::from_be_bytes([e[4], e[5]]);
        let name_end = e[8..].iter().position(|&b| b == 0).unwrap();
        let name = String::from_utf8(e[8..8 + name_end].to_vec()).unwrap();
        entries.push((name, select, size));
    }
    assert_eq!(
        entries,
        [
            ("etc/hello".to_string(), FW_CFG_FILE_FIRST, 12),
            ("etc/e820".to_string(), FW_CFG_FILE_FIRST + 1, 40)
        ]
    );
    assert_eq!(read_item(&mut dev, FW_CFG_FILE_FIRST, 12), b"hello, world");
}

#[test]
fn files_with_bad_names_duplicates_or_no_slot_are_refused() {
    let mut items = FwCfgItems::new();
    assert!(matches!(
        items.add_file("", vec![]),
        Err(FwCfgError::BadName(_))
    ));
    let long = "x".repeat(FILE_NAME_LEN);
    assert!(matches!(
        items.add_file(&long, vec![]),
        Err(FwCfgError::BadName(_))
    ));
    items.add_file("a", vec![1]).unwrap();
    assert_eq!(
        items.add_file("a", vec![2]),
        Err(FwCfgError::Duplicate("a".into()))
    );
    for k in 1..MAX_FILES {
        items.add_file(&format!("f{k}"), vec![]).unwrap();
    }
    assert_eq!(
        items.add_file("one-more", vec![]),
        Err(FwCfgError::Full("one-more".into()))
    );
    // Replacing a file's bytes updates its size in the directory.
    let (key, _) = items.file("a").unwrap();
    items.add_bytes(key, vec![0; 300]);
    let dir = items.get(FW_CFG_FILE_DIR).unwrap();
    assert_eq!(u32::from_be_bytes(dir[4..8].try_into().unwrap()), 300);
}

#[test]
fn dma_register_reads_as_its_signature() {
    let mut dev = device();
    let bytes: Vec<u8> = (0..8)
        .map(|i| dev.io_read(FW_CFG_PORT_DMA + i, 1) as u8)
        .collect();
    assert_eq!(bytes, b"QEMU CFG");
    assert_eq!(dev.io_read(FW_CFG_PORT_DMA + 4, 4).to_le_bytes(), *b" CFG");
    assert_eq!(
        dev.io_read(FW_CFG_PORT_DMA + 6, 4).to_le_bytes(),
        [b'F', b'G', 0xFF, 0xFF]
    );
}

#[test]
fn dma_select_and_read_fills_the_buffer_and_clears_control() {
    let mut dev = device();
    let mut ram = vec![0xEEu8; RAM];
    let (key, _) = dev.items().file("etc/hello").unwrap();
    let control = u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    assert_eq!(dma(&mut dev, &mut ram, control, 5, BUF), 0);
    assert_eq!(&ram[BUF as usize..BUF as usize + 6], b"hello\xEE");
    // Without SELECT a read goes on from the position; past the end it gives zeros.
    assert_eq!(dma(&mut dev, &mut ram, FW_CFG_DMA_CTL_READ, 10, BUF), 0);
    assert_eq!(&ram[BUF as usize..BUF as usize + 11], b", world\0\0\0\xEE");
    // The traditional port sees the same position: at the end.
    assert_eq!(dev.io_read(FW_CFG_PORT_DATA, 1), 0);
}

#[test]
fn dma_skip_moves_the_position_and_no_operation_transfers_nothing() {
    let mut dev = device();
    let mut ram = vec![0u8; RAM];
    let (key, _) = dev.items().file("etc/hello").unwrap();
    let control = u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP;
    assert_eq!(dma(&mut dev, &mut ram, control, 7, 0xFFFF_FFFF_0000), 0);
    assert_eq!(dev.read_data(), b'w');
    // SELECT alone rewinds and moves nothing, whatever the length and address say.
    let control = u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT;
    assert_eq!(dma(&mut dev, &mut ram, control, 100, u64::MAX), 0);
    assert_eq!(dev.read_data(), b'h');
    // Skipping past the end is not an error.
    assert_eq!(dma(&mut dev, &mut ram, FW_CFG_DMA_CTL_SKIP, 1000, 0), 0);
    assert_eq!(dev.read_data(), 0);
}

#[test]
fn dma_to_memory_that_is_not_ram_and_writes_set_the_error_bit() {
    let mut dev = device();
    let mut ram = vec![0u8; RAM];
    let (key, _) = dev.items().file("etc/e820").unwrap();
    let select_read = u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    // The buffer runs past the end of RAM.
    assert_eq!(
        dma(&mut dev, &mut ram, select_read, 40, RAM as u64 - 8),
        FW_CFG_DMA_CTL_ERROR
    );
    assert_eq!(
        dma(&mut dev, &mut ram, select_read, 40, u64::MAX - 3),
        FW_CFG_DMA_CTL_ERROR
    );
    // Zero fill past the end fails the same way.
    let control = u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    assert_eq!(
        dma(&mut dev, &mut ram, control, 0x2_0000, 0),
        FW_CFG_DMA_CTL_ERROR
    );
    // Nothing is writable, in the item or past its end; an empty write is no error.
    let select_write = u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE;
    assert_eq!(
        dma(&mut dev, &mut ram, select_write, 4, BUF),
        FW_CFG_DMA_CTL_ERROR
    );
    assert_eq!(
        dma(&mut dev, &mut ram, FW_CFG_DMA_CTL_WRITE, 4, BUF),
        FW_CFG_DMA_CTL_ERROR
    );
    assert_eq!(dma(&mut dev, &mut ram, select_write, 0, BUF), 0);
    assert_eq!(dev.items().file("etc/e820").unwrap().1, &[0xAB; 40]);
}

#[test]
fn descriptor_outside_ram_is_dropped_and_one_inside_it_gets_the_error_bit() {
    let mut dev = device();
    let mut ram = vec![0u8; RAM];
    assert!(!dev.run_dma(&mut ram), "nothing started");
    start_dma(&mut dev, 0x1_0000_0000);
    assert!(dev.run_dma(&mut ram));
    assert!(!dev.dma_pending());
    assert!(ram.iter().all(|&b| b == 0));
    // A descriptor straddling the end of RAM cannot be read: the error goes to its first word.
    let at = RAM as u64 - 8;
    start_dma(&mut dev, at);
    assert!(dev.run_dma(&mut ram));
    assert_eq!(&ram[RAM - 8..RAM - 4], &FW_CFG_DMA_CTL_ERROR.to_be_bytes());
    // Only the low half starts a transfer; a reset forgets the half written.
    dev.io_write(FW_CFG_PORT_DMA, 4, 0x0100_0000);
    assert!(!dev.dma_pending());
    dev.reset();
    dev.io_write(FW_CFG_PORT_DMA + 4, 4, (DESC as u32).swap_bytes());
    assert!(dev.dma_pending());
}
