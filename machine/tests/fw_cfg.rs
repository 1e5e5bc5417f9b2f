//! A guest reads fw_cfg the way SeaBIOS does, under the interpreter and the binary translator: the signature
//! through the selector and data ports, the file directory and then `etc/e820` by DMA, and from the E820 map the
//! top of RAM, which must be the board's RAM size. A DMA over code the guest has run is what it runs next.

mod common;

use iced_x86::code_asm::*;
use vx86_cpu::testing::flat32_cpu;
use vx86_devices::fw_cfg::dma::{FW_CFG_DMA_CTL_READ, FW_CFG_DMA_CTL_SELECT};
use vx86_devices::fw_cfg::items::{FILE_ENTRY_LEN, FW_CFG_FILE_DIR, MAX_FILES};
use vx86_devices::fw_cfg::{FW_CFG_PORT_DATA, FW_CFG_PORT_DMA, FW_CFG_PORT_SEL};
use vx86_machine::loader::MemoryMap;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Guest RAM.
const RAM: u64 = 16 << 20;
/// The guest's code.
const CODE: u64 = 0x10000;
/// Its stack top.
const STACK: u64 = 0x9000;
/// The DMA descriptor.
const DESC: u64 = 0x20000;
/// The name looked for, NUL-terminated.
const NAME: u64 = 0x20040;
/// Results: the signature (4 bytes), the file's key, its size, the DMA status, the top of RAM (a dword each).
const SIGNATURE: u64 = 0x20080;
const KEY: u64 = SIGNATURE + 4;
const SIZE: u64 = SIGNATURE + 8;
const STATUS: u64 = SIGNATURE + 12;
const TOP: u64 = SIGNATURE + 16;
/// The file directory, read by DMA.
const DIR: u64 = 0x21000;
/// Room for the whole directory.
const DIR_LEN: u32 = (4 + FILE_ENTRY_LEN * MAX_FILES) as u32;
/// The E820 map, read by DMA.
const E820: u64 = 0x23000;

/// Fills in the descriptor (control in EAX, length in ECX, both host order; buffer `buffer`) and starts the
/// transfer as SeaBIOS does: both address halves, big-endian, the low half last. EAX, ECX and EDX are clobbered.
fn dma(a: &mut CodeAssembler, buffer: u64) {
    a.bswap(eax).unwrap();
    a.mov(dword_ptr(DESC as u32), eax).unwrap();
    a.bswap(ecx).unwrap();
    a.mov(dword_ptr(DESC as u32 + 4), ecx).unwrap();
    a.mov(dword_ptr(DESC as u32 + 8), 0).unwrap();
    a.mov(dword_ptr(DESC as u32 + 12), (buffer as u32).swap_bytes())
        .unwrap();
    a.mov(dx, u32::from(FW_CFG_PORT_DMA)).unwrap();
    a.xor(eax, eax).unwrap();
    a.out(dx, eax).unwrap();
    a.mov(dx, u32::from(FW_CFG_PORT_DMA + 4)).unwrap();
    a.mov(eax, (DESC as u32).swap_bytes()).unwrap();
    a.out(dx, eax).unwrap();
}

fn guest(a: &mut CodeAssembler) {
    // The signature: select key 0 with a 16-bit OUT, read four bytes with INSB.
    a.mov(dx, u32::from(FW_CFG_PORT_SEL)).unwrap();
    a.xor(eax, eax).unwrap();
    a.out(dx, ax).unwrap();
    a.mov(dx, u32::from(FW_CFG_PORT_DATA)).unwrap();
    a.mov(edi, SIGNATURE as u32).unwrap();
    a.mov(ecx, 4).unwrap();
    a.cld().unwrap();
    a.rep().insb().unwrap();
    // The directory by DMA, then a search for the name.
    a.mov(
        eax,
        u32::from(FW_CFG_FILE_DIR) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
    )
    .unwrap();
    a.mov(ecx, DIR_LEN).unwrap();
    dma(a, DIR);
    a.mov(ebp, dword_ptr(DIR as u32)).unwrap();
    a.bswap(ebp).unwrap();
    a.mov(ebx, DIR as u32 + 4).unwrap();
    let mut search = a.create_label();
    let mut found = a.create_label();
    let mut give_up = a.create_label();
    a.set_label(&mut search).unwrap();
    a.test(ebp, ebp).unwrap();
    a.jz(give_up).unwrap();
    a.lea(esi, ptr(ebx + 8)).unwrap();
    a.mov(edi, NAME as u32).unwrap();
    a.mov(ecx, 9).unwrap();
    a.repe().cmpsb().unwrap();
    a.je(found).unwrap();
    a.add(ebx, FILE_ENTRY_LEN as u32).unwrap();
    a.dec(ebp).unwrap();
    a.jmp(search).unwrap();
    // The file: its key and size (big-endian), then a select-and-read DMA of all of it.
    a.set_label(&mut found).unwrap();
    a.movzx(eax, word_ptr(ebx + 4)).unwrap();
    a.xchg(al, ah).unwrap();
    a.mov(dword_ptr(KEY as u32), eax).unwrap();
    a.mov(ecx, dword_ptr(ebx)).unwrap();
    a.bswap(ecx).unwrap();
    a.mov(dword_ptr(SIZE as u32), ecx).unwrap();
    a.shl(eax, 16).unwrap();
    a.or(eax, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ)
        .unwrap();
    dma(a, E820);
    a.mov(eax, dword_ptr(DESC as u32)).unwrap();
    a.bswap(eax).unwrap();
    a.mov(dword_ptr(STATUS as u32), eax).unwrap();
    // The top of RAM below 4 GiB: the highest end of a type 1 entry.
    a.mov(esi, E820 as u32).unwrap();
    a.mov(edi, esi).unwrap();
    a.add(edi, dword_ptr(SIZE as u32)).unwrap();
    a.xor(ebx, ebx).unwrap();
    let mut next = a.create_label();
    let mut entry = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut entry).unwrap();
    a.cmp(esi, edi).unwrap();
    a.jae(done).unwrap();
    a.cmp(dword_ptr(esi + 16), 1).unwrap();
    a.jne(next).unwrap();
    a.cmp(dword_ptr(esi + 4), 0).unwrap();
    a.jne(next).unwrap();
    a.mov(eax, dword_ptr(esi)).unwrap();
    a.add(eax, dword_ptr(esi + 8)).unwrap();
    a.cmp(eax, ebx).unwrap();
    a.jbe(next).unwrap();
    a.mov(ebx, eax).unwrap();
    a.set_label(&mut next).unwrap();
    a.add(esi, 20).unwrap();
    a.jmp(entry).unwrap();
    a.set_label(&mut done).unwrap();
    a.mov(dword_ptr(TOP as u32), ebx).unwrap();
    a.set_label(&mut give_up).unwrap();
    common::acpi_power_off(a);
}

fn machine(engine: EngineKind) -> Vm {
    let config = VmConfig {
        deterministic: true,
        instruction_limit: Some(1_000_000),
        ..VmConfig::new(RAM, vx86_firmware::bios::image())
    };
    Vm::with_engine(config, engine).unwrap()
}

/// Runs `vm` from [`CODE`] in flat 32-bit mode until the guest powers off.
fn run_guest(vm: &mut Vm, engine: EngineKind, build: impl FnOnce(&mut CodeAssembler)) {
    let mut a = CodeAssembler::new(32).unwrap();
    build(&mut a);
    vm.write_phys(CODE, &a.assemble(CODE).unwrap());
    vm.cpu.state = flat32_cpu(CODE, STACK).state;
    let (outcome, _) = vm.run();
    assert_eq!(outcome, Outcome::PowerOff, "under {engine}");
}

fn run(engine: EngineKind) -> Vm {
    let mut vm = machine(engine);
    vm.write_phys(NAME, b"etc/e820\0");
    run_guest(&mut vm, engine, guest);
    vm
}

fn dword(vm: &Vm, addr: u64) -> u32 {
    let mut b = [0u8; 4];
    vm.board.memory.read_phys(addr, &mut b);
    u32::from_le_bytes(b)
}

#[test]
fn guest_reads_the_signature_and_finds_its_ram_in_etc_e820_by_dma() {
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let vm = run(engine);
        let mut signature = [0u8; 4];
        vm.board.memory.read_phys(SIGNATURE, &mut signature);
        assert_eq!(&signature, b"QEMU", "under {engine}");
        assert!(dword(&vm, KEY) >= 0x20, "a file key under {engine}");
        let map = MemoryMap::for_board(&vm.board.memory);
        let expected: Vec<u8> = map.entries().iter().flat_map(|e| e.to_bytes()).collect();
        assert_eq!(dword(&vm, SIZE) as usize, expected.len(), "under {engine}");
        assert_eq!(dword(&vm, STATUS), 0, "DMA status under {engine}");
        let mut e820 = vec![0u8; expected.len()];
        vm.board.memory.read_phys(E820, &mut e820);
        assert_eq!(e820, expected, "under {engine}");
        assert_eq!(u64::from(dword(&vm, TOP)), RAM, "top of RAM under {engine}");
    }
}

/// Where the code the DMA replaces lives (a page of its own).
const FUNCTION: u64 = 0x30000;

/// `mov eax, value; ret` at [`FUNCTION`].
fn function_returning(value: u32) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    a.mov(eax, value).unwrap();
    a.ret().unwrap();
    a.assemble(FUNCTION).unwrap()
}

#[test]
fn code_replaced_by_dma_runs_new_under_every_engine() {
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let mut vm = machine(engine);
        let new_code = function_returning(2);
        let len = new_code.len() as u32;
        let key = vm
            .board
            .devices
            .fw_cfg_mut()
            .items_mut()
            .add_file("vx86/new-code", new_code)
            .unwrap();
        vm.write_phys(FUNCTION, &function_returning(1));
        run_guest(&mut vm, engine, |a| {
            // Run the old code twice (the engines have cached it), then DMA the new code over it and run that.
            for result in [SIGNATURE, KEY] {
                a.call(FUNCTION).unwrap();
                a.mov(dword_ptr(result as u32), eax).unwrap();
            }
            a.mov(
                eax,
                u32::from(key) << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
            )
            .unwrap();
            a.mov(ecx, len).unwrap();
            dma(a, FUNCTION);
            a.call(FUNCTION).unwrap();
            a.mov(dword_ptr(SIZE as u32), eax).unwrap();
            common::acpi_power_off(a);
        });
        let results: Vec<u32> = [SIGNATURE, KEY, SIZE]
            .iter()
            .map(|&r| dword(&vm, r))
            .collect();
        assert_eq!(results, [1, 1, 2], "under {engine}");
    }
}
