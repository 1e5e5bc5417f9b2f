//! Checks on the demo image that need no emulator (booting it is the machine crate's job).

use super::asm::Assembled;
use super::*;
use iced_x86::{CpuidFeature, Decoder, DecoderOptions, Mnemonic};

/// Decodes `code` as `bitness`-bit code at `ip` and returns its instructions, asserting each is valid i386 code.
fn decode_i386(bitness: u32, ip: u32, code: &[u8]) -> Vec<iced_x86::Instruction> {
    let mut decoder = Decoder::with_ip(bitness, code, u64::from(ip), DecoderOptions::NONE);
    let instructions: Vec<_> = decoder.iter().collect();
    for instr in &instructions {
        assert_ne!(
            instr.mnemonic(),
            Mnemonic::INVALID,
            "invalid instruction at {:#x}",
            instr.ip()
        );
        for feature in instr.cpuid_features() {
            assert!(
                matches!(
                    feature,
                    CpuidFeature::INTEL8086
                        | CpuidFeature::INTEL186
                        | CpuidFeature::INTEL286
                        | CpuidFeature::INTEL386
                ),
                "{:?} at {:#x} needs {feature:?}",
                instr.mnemonic(),
                instr.ip()
            );
        }
    }
    instructions
}

fn check_code(bitness: u32, ip: u32, part: &Assembled) {
    let instructions = decode_i386(bitness, ip, &part.bytes[..part.code_len]);
    let decoded: usize = instructions.iter().map(|i| i.len()).sum();
    assert_eq!(
        decoded, part.code_len,
        "instructions must end exactly where the data begins"
    );
}

#[test]
fn image_is_whole_sectors_with_a_boot_signature() {
    let image = disk_image();
    assert_eq!(image.len() % SECTOR_SIZE, 0);
    assert!(image.len() > SECTOR_SIZE);
    assert_eq!(&image[510..512], &[0x55, 0xAA]);
}

#[test]
fn boot_sector_leaves_the_partition_table_empty() {
    let image = disk_image();
    assert!(image[boot_sector::PARTITION_TABLE_OFFSET..510]
        .iter()
        .all(|&b| b == 0));
}

#[test]
fn boot_sector_loads_exactly_the_kernel() {
    let image = disk_image();
    let sectors = (image.len() / SECTOR_SIZE - 1) as u16;
    let [lo, hi] = sectors.to_le_bytes();
    let [load_lo, load_hi, ..] = KERNEL_LOAD_ADDR.to_le_bytes();
    let dap = [
        16, 0, lo, hi, load_lo, load_hi, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ];
    let boot = &image[..SECTOR_SIZE];
    assert!(
        boot.windows(dap.len()).any(|w| w == dap),
        "INT 13h AH=42h packet for {sectors} sectors"
    );
    assert!(
        boot.windows(3).any(|w| w == [0xB8, lo, 0x02]),
        "INT 13h AH=02h fallback: mov ax, 0x02{lo:02x}"
    );
    assert_eq!(kernel_image().len(), usize::from(sectors) * SECTOR_SIZE);
}

#[test]
fn boot_sector_decodes_as_16_bit_i386_code_until_its_data() {
    let sectors = (kernel_image().len() / SECTOR_SIZE) as u16;
    let code_len = boot_sector::code_len(sectors);
    let image = disk_image();
    let instructions = decode_i386(16, BOOT_SECTOR_ADDR, &image[..code_len]);
    assert_eq!(
        instructions.iter().map(|i| i.len()).sum::<usize>(),
        code_len
    );
    assert!(instructions
        .iter()
        .any(|i| i.mnemonic() == Mnemonic::Int && i.immediate8() == 0x13));
}

#[test]
fn every_part_decodes_as_i386_code_of_its_mode() {
    check_code(16, KERNEL_LOAD_ADDR, &real_mode::assemble().unwrap());
    check_code(32, KERNEL32_ADDR, &kernel::assemble().unwrap());
    check_code(32, USER_CODE_VA, &kernel::user::assemble().unwrap());
}

#[test]
fn parts_sit_at_their_documented_addresses() {
    let kernel = kernel_image();
    let at = |addr: u32| (addr - KERNEL_LOAD_ADDR) as usize;
    assert_eq!(
        &kernel[at(KERNEL32_ADDR)..][..32],
        &kernel::assemble().unwrap().bytes[..32]
    );
    assert_eq!(
        &kernel[at(USER_IMAGE_ADDR)..][..32],
        &kernel::user::assemble().unwrap().bytes[..32]
    );
    assert_eq!(
        USER_IMAGE_ADDR % 0x1000,
        0,
        "the user page is mapped on its own"
    );
}

#[test]
fn narration_is_in_the_image() {
    let image = disk_image();
    let text = String::from_utf8_lossy(&image);
    for line in [
        "Step 1: real mode",
        "INT 13h AH=42h",
        "E820h",
        "Step 2: protected mode",
        "Step 3: interrupts",
        "Step 4: paging",
        "Demand paging",
        "Step 5: ring 3",
        "ring 3 tried CLI: #GP error 0x",
        "ring 3 tried port I/O",
        "Hello from user mode",
        "Step 6: summary",
        SUCCESS_LINE,
        FAILURE_LINE,
    ] {
        assert!(text.contains(line), "missing narration: {line:?}");
    }
}
