//! Direct kernel loading: synthetic bzImages and multiboot images built here, loaded into guest memory, and every
//! malformed image rejected with a clear error; plus Debian's real kernel when guests/debian-linux.sh has run.

mod common;

use common::bzimage::{put, Bz};
use vx86_machine::loader::bzimage::SetupHeader;
use vx86_machine::loader::e820::{E820Entry, E820_RAM};
use vx86_machine::loader::entry::{
    BOOT_CS, BOOT_DS, CR0_ET, CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, GDT_CODE32, GDT_CODE64,
    GDT_DATA,
};
use vx86_machine::loader::multiboot::{self, BOOTLOADER_MAGIC, HEADER_MAGIC};
use vx86_machine::loader::zero_page::*;
use vx86_machine::loader::*;
use vx86_machine::memory::GuestMemory;

const RAM: u64 = 64 << 20;

fn memory(ram: u64) -> (GuestMemory, MemoryMap) {
    let mem = GuestMemory::new(ram, &[0; 64 * 1024]).unwrap();
    let map = MemoryMap::for_board(&mem);
    (mem, map)
}

fn read(mem: &GuestMemory, addr: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    mem.read_phys(addr, &mut b);
    b
}

fn r32(mem: &GuestMemory, addr: u64) -> u32 {
    u32::from_le_bytes(read(mem, addr, 4).try_into().unwrap())
}

fn r64(mem: &GuestMemory, addr: u64) -> u64 {
    u64::from_le_bytes(read(mem, addr, 8).try_into().unwrap())
}

fn load_bz(
    bz: &Bz,
    initrd: Option<&[u8]>,
    cmdline: &str,
) -> (GuestMemory, MemoryMap, Result<BootState, LoadError>) {
    let (mut mem, map) = memory(RAM);
    let kernel = bz.build();
    let req = KernelRequest {
        kernel: &kernel,
        initrd,
        cmdline,
        ..KernelRequest::default()
    };
    let r = load_kernel(&mut mem, &map, &req);
    (mem, map, r)
}

fn e820_from_zero_page(mem: &GuestMemory) -> Vec<E820Entry> {
    let n = read(mem, ZERO_PAGE_ADDR + BP_E820_ENTRIES as u64, 1)[0] as u64;
    (0..n)
        .map(|k| {
            let a = ZERO_PAGE_ADDR + BP_E820_TABLE as u64 + k * 20;
            E820Entry {
                base: r64(mem, a),
                len: r64(mem, a + 8),
                kind: r32(mem, a + 16),
            }
        })
        .collect()
}

#[test]
fn bzimage_64bit_entry_zero_page_page_tables_and_gdt() {
    let bz = Bz::default();
    let image = bz.build();
    let initrd: Vec<u8> = (0..10_000u32).map(|k| (k % 251) as u8).collect();
    let cmdline = "console=ttyS0 panic=-1";
    let (mem, map, r) = load_bz(&bz, Some(&initrd), cmdline);
    let s = r.unwrap();

    // The kernel body at its preferred address; the 64-bit entry 0x200 into it.
    assert_eq!(s.mode, EntryMode::Long64);
    assert_eq!(s.rip, 0x100_0200);
    assert_eq!(s.rsi, ZERO_PAGE_ADDR);
    assert_eq!(s.kernel, (0x100_0000, 0x100_0000 + bz.body_len as u64));
    assert_eq!(read(&mem, 0x100_0000, bz.body_len), image[5 * 512..]);

    // The zero page: the header copied, the loader's fields filled in.
    let zp = read(&mem, ZERO_PAGE_ADDR, ZERO_PAGE_SIZE);
    let loader_fields = [
        HDR_TYPE_OF_LOADER,
        HDR_CODE32_START,
        HDR_RAMDISK_IMAGE,
        HDR_RAMDISK_SIZE,
        HDR_CMD_LINE_PTR,
    ];
    for off in BP_HDR..0x26C {
        if !loader_fields.iter().any(|&f| (f..f + 4).contains(&off)) {
            assert_eq!(zp[off], image[off], "header byte {off:#x}");
        }
    }
    assert_eq!(
        zp[..BP_ALT_MEM_K],
        vec![0u8; BP_ALT_MEM_K][..],
        "boot_params before alt_mem_k is clear"
    );
    assert_eq!(zp[BP_SENTINEL], 0);
    assert_eq!(zp[HDR_TYPE_OF_LOADER], 0xFF);
    assert_eq!(zp[HDR_EXT_LOADER_VER], 0);
    assert_eq!(zp[HDR_EXT_LOADER_TYPE], 0);
    assert_eq!(
        r32(&mem, ZERO_PAGE_ADDR + HDR_CODE32_START as u64),
        0x100_0000
    );
    assert_eq!(
        r32(&mem, ZERO_PAGE_ADDR + HDR_CMD_LINE_PTR as u64),
        CMDLINE_ADDR as u32
    );
    assert_eq!(
        read(&mem, CMDLINE_ADDR, cmdline.len() + 1),
        [cmdline.as_bytes(), &[0]].concat()
    );

    // The initrd page-aligned, as high as RAM allows, after the kernel's init_size.
    let rd = r32(&mem, ZERO_PAGE_ADDR + HDR_RAMDISK_IMAGE as u64) as u64;
    let rd_size = r32(&mem, ZERO_PAGE_ADDR + HDR_RAMDISK_SIZE as u64) as u64;
    assert_eq!(rd_size, initrd.len() as u64);
    assert_eq!(rd % 4096, 0);
    assert!(
        rd + rd_size <= RAM && rd + rd_size + 4096 > RAM,
        "initrd at {rd:#x}"
    );
    assert!(rd >= 0x100_0000 + u64::from(bz.init_size));
    assert_eq!(read(&mem, rd, initrd.len()), initrd);
    assert_eq!(s.initrd, Some((rd, rd + rd_size)));

    // E820: exactly the board's map, RAM from 1 MiB to the end.
    let e820 = e820_from_zero_page(&mem);
    assert_eq!(e820, map.entries());
    assert!(e820.contains(&E820Entry {
        base: 0x10_0000,
        len: RAM - 0x10_0000,
        kind: E820_RAM
    }));
    assert_eq!(
        r32(&mem, ZERO_PAGE_ADDR + BP_ALT_MEM_K as u64) as u64,
        (RAM - 0x10_0000) >> 10
    );

    // Identity map of 4 GiB with 2 MiB pages.
    assert_eq!(
        (s.cr0, s.cr3, s.cr4, s.efer),
        (
            CR0_PE | CR0_ET | CR0_PG,
            BOOT_PML4_ADDR,
            CR4_PAE,
            EFER_LME | EFER_LMA
        )
    );
    assert_eq!(r64(&mem, BOOT_PML4_ADDR), BOOT_PDPT_ADDR | 3);
    assert_eq!(r64(&mem, BOOT_PML4_ADDR + 8), 0);
    for k in 0..4 {
        assert_eq!(
            r64(&mem, BOOT_PDPT_ADDR + 8 * k),
            (BOOT_PD_ADDR + 4096 * k) | 3
        );
    }
    assert_eq!(r64(&mem, BOOT_PDPT_ADDR + 32), 0);
    for page in [0u64, 1, 8, 511, 512, 2047] {
        assert_eq!(
            r64(&mem, BOOT_PD_ADDR + 8 * page),
            (page << 21) | 0x83,
            "2 MiB page {page}"
        );
    }

    // GDT with __BOOT_CS and __BOOT_DS, and segment caches to match.
    assert_eq!((s.gdt_base, s.gdt_limit), (BOOT_GDT_ADDR, 31));
    assert_eq!(r64(&mem, BOOT_GDT_ADDR), 0);
    assert_eq!(r64(&mem, BOOT_GDT_ADDR + u64::from(BOOT_CS)), GDT_CODE64);
    assert_eq!(r64(&mem, BOOT_GDT_ADDR + u64::from(BOOT_DS)), GDT_DATA);
    assert_eq!(
        (s.code.selector, s.code.base, s.code.limit, s.code.attrs),
        (0x10, 0, 0xFFFF_FFFF, 0xA09B)
    );
    assert_eq!(
        (s.data.selector, s.data.base, s.data.limit, s.data.attrs),
        (0x18, 0, 0xFFFF_FFFF, 0xC093)
    );
    assert_eq!((s.rflags, s.rsp, s.rax, s.rbx), (2, BOOT_STACK_TOP, 0, 0));
}

#[test]
fn bzimage_32bit_entry_when_the_kernel_has_no_64bit_one() {
    let bz = Bz {
        xloadflags: 0,
        relocatable: false,
        ..Bz::default()
    };
    let (mem, _, r) = load_bz(&bz, None, "");
    let s = r.unwrap();
    assert_eq!(s.mode, EntryMode::Protected32);
    assert_eq!((s.rip, s.rsi), (0x10_0000, ZERO_PAGE_ADDR));
    assert_eq!((s.cr0, s.cr3, s.cr4, s.efer), (CR0_PE | CR0_ET, 0, 0, 0));
    assert_eq!(r64(&mem, BOOT_GDT_ADDR + 0x10), GDT_CODE32);
    assert_eq!(s.code.attrs, 0xC09B);
    assert_eq!(r32(&mem, ZERO_PAGE_ADDR + HDR_RAMDISK_IMAGE as u64), 0);
    assert_eq!(read(&mem, CMDLINE_ADDR, 1), [0]);
    assert_eq!(s.initrd, None);

    // The 64-bit entry cannot be forced on it.
    let (mut mem, map) = memory(RAM);
    let kernel = bz.build();
    let req = KernelRequest {
        kernel: &kernel,
        ..KernelRequest::default()
    };
    let e = BzImage
        .load_entry(&mut mem, &map, &req, EntryMode::Long64)
        .unwrap_err();
    assert!(matches!(e, LoadError::No64BitEntry), "{e}");
    // A 64-bit kernel may still be entered at its 32-bit entry.
    let kernel = Bz::default().build();
    let req = KernelRequest {
        kernel: &kernel,
        ..KernelRequest::default()
    };
    let s = BzImage
        .load_entry(&mut mem, &map, &req, EntryMode::Protected32)
        .unwrap();
    assert_eq!(s.rip, 0x100_0000);
}

#[test]
fn bzimage_load_address_and_initrd_limits() {
    // setup_sects = 0 means 4; a pref_address that is not RAM falls back to 1 MiB.
    let bz = Bz {
        setup_sects: 0,
        pref_address: 0x1_0000_0000,
        ..Bz::default()
    };
    let (mem, _, r) = load_bz(&bz, None, "");
    assert_eq!(r.unwrap().rip, 0x10_0200);
    assert_eq!(read(&mem, 0x10_0000, 16), bz.build()[5 * 512..5 * 512 + 16]);
    // A misaligned pref_address also falls back.
    let bz = Bz {
        pref_address: 0x110_0000,
        ..Bz::default()
    };
    assert_eq!(load_bz(&bz, None, "").2.unwrap().rip, 0x10_0200);
    // initrd_addr_max caps the initrd's end.
    let bz = Bz {
        initrd_addr_max: 0x1FF_FFFF,
        ..Bz::default()
    };
    let (mem, _, r) = load_bz(&bz, Some(&[7; 5000]), "");
    let (start, end) = r.unwrap().initrd.unwrap();
    assert_eq!(
        (start, end),
        (0x200_0000 - 0x2000, 0x200_0000 - 0x2000 + 5000)
    );
    assert_eq!(
        r32(&mem, ZERO_PAGE_ADDR + HDR_RAMDISK_IMAGE as u64) as u64,
        start
    );
}

fn bz_error(bz: &Bz, initrd: Option<&[u8]>, cmdline: &str) -> LoadError {
    load_bz(bz, initrd, cmdline).2.unwrap_err()
}

fn kernel_error(kernel: &[u8]) -> LoadError {
    let (mut mem, map) = memory(RAM);
    load_kernel(
        &mut mem,
        &map,
        &KernelRequest {
            kernel,
            ..KernelRequest::default()
        },
    )
    .unwrap_err()
}

#[test]
fn malformed_bzimages_are_rejected_with_clear_errors() {
    let e = kernel_error(&[0; 100]);
    assert!(
        matches!(e, LoadError::TooShort { .. }) && e.to_string().contains("too short"),
        "{e}"
    );
    let mut short = Bz::default().build();
    short.truncate(0x240);
    let e = kernel_error(&short);
    assert!(
        matches!(e, LoadError::TooShort { .. }) && e.to_string().contains("setup header"),
        "{e}"
    );

    let e = kernel_error(&[0; 16384]);
    assert!(matches!(e, LoadError::UnknownFormat), "{e}");
    assert!(
        e.to_string().contains("bzImage") && e.to_string().contains("multiboot"),
        "{e}"
    );

    let e = bz_error(
        &Bz {
            version: 0x0205,
            ..Bz::default()
        },
        None,
        "",
    );
    assert!(
        matches!(e, LoadError::ProtocolTooOld(0x0205)) && e.to_string().contains("2.05"),
        "{e}"
    );
    assert!(e.to_string().contains("2.06"), "{e}");

    let e = bz_error(
        &Bz {
            loadflags: 0,
            ..Bz::default()
        },
        None,
        "",
    );
    assert!(
        matches!(e, LoadError::NotBzImage) && e.to_string().contains("zImage"),
        "{e}"
    );

    let mut cut = Bz {
        setup_sects: 60,
        ..Bz::default()
    }
    .build();
    cut.truncate(20 * 512);
    let e = kernel_error(&cut);
    assert!(
        matches!(
            e,
            LoadError::SetupPastEnd {
                setup_sects: 60,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("setup_sects = 60"), "{e}");

    let e = bz_error(
        &Bz {
            init_size: 100 << 20,
            ..Bz::default()
        },
        None,
        "",
    );
    assert!(
        matches!(
            e,
            LoadError::KernelTooBig {
                addr: 0x10_0000,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("-m"), "{e}");

    let e = bz_error(&Bz::default(), Some(&vec![0; 60 << 20]), "");
    assert!(
        matches!(e, LoadError::InitrdTooBig { .. }) && e.to_string().contains("initrd"),
        "{e}"
    );

    let e = bz_error(
        &Bz {
            cmdline_size: 16,
            ..Bz::default()
        },
        None,
        "console=ttyS0 quiet",
    );
    assert!(
        matches!(e, LoadError::CommandLineTooLong { len: 19, max: 16 }),
        "{e}"
    );
    assert!(bz_error(&Bz::default(), None, "a\0b")
        .to_string()
        .contains("NUL"));
    // Exactly cmdline_size bytes is fine.
    assert!(load_bz(
        &Bz {
            cmdline_size: 4,
            ..Bz::default()
        },
        None,
        "abcd"
    )
    .2
    .is_ok());
}

#[test]
fn the_setup_header_parses_as_documented() {
    let h = SetupHeader::parse(&Bz::default().build()).unwrap();
    assert_eq!(h.version, 0x020F);
    assert_eq!(h.kernel_offset(), 5 * 512);
    assert!(h.has_64bit_entry() && h.relocatable);
    assert_eq!(
        (h.pref_address, h.init_size, h.cmdline_size),
        (0x100_0000, 0x40_0000, 2047)
    );
}

// ---- multiboot ------------------------------------------------------------------------------------------------

fn mb_header(flags: u32) -> Vec<u8> {
    let checksum = 0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags);
    [HEADER_MAGIC, flags, checksum]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// An a.out-kludge image: header at 0x40, loaded at `load`, 0x3000 bytes of file, 0x1800 of bss.
fn mb_kludge(load: u32, fields: Option<[u32; 5]>) -> Vec<u8> {
    let mut b: Vec<u8> = (0..0x3000u32).map(|k| (k % 253) as u8 + 1).collect();
    let mut h = mb_header(multiboot::FLAG_ADDRESSES | multiboot::FLAG_PAGE_ALIGN);
    let f = fields.unwrap_or([load + 0x40, load, load + 0x2800, load + 0x4000, load + 0x80]);
    h.extend(f.iter().flat_map(|v| v.to_le_bytes()));
    put(&mut b, 0x40, &h);
    b
}

/// The file names the multiboot tests load under, as a user would give them to -kernel and -initrd.
const KERNEL_NAME: &str = "boot/kernel.elf";
const INITRD_NAME: &str = "rd.img";

fn load_mb(
    kernel: &[u8],
    initrd: Option<&[u8]>,
) -> (GuestMemory, MemoryMap, Result<BootState, LoadError>) {
    let (mut mem, map) = memory(RAM);
    // Dirty the bss so the test sees the loader clear it.
    mem.write_phys(0x10_2800, &[0xAA; 0x1800]).unwrap();
    let req = KernelRequest {
        kernel,
        initrd,
        cmdline: "mb args",
        kernel_name: KERNEL_NAME,
        initrd_name: INITRD_NAME,
    };
    let r = load_kernel(&mut mem, &map, &req);
    (mem, map, r)
}

fn check_info(mem: &GuestMemory, map: &MemoryMap) {
    let info = MULTIBOOT_INFO_ADDR;
    let flags = r32(mem, info);
    assert_eq!(
        flags & 0x24D,
        0x24D,
        "mem, cmdline, mods, mmap, loader name: {flags:#x}"
    );
    assert_eq!(r32(mem, info + 4), 639);
    assert_eq!(r32(mem, info + 8) as u64, (RAM - 0x10_0000) >> 10);
    assert_eq!(r32(mem, info + 16) as u64, CMDLINE_ADDR);
    assert_eq!(
        read(mem, CMDLINE_ADDR, 24),
        b"boot/kernel.elf mb args\0",
        "the kernel's name first, as GRUB and QEMU write it"
    );
    let name = r32(mem, info + 64) as u64;
    assert_eq!(read(mem, name, 5), b"vx86\0");
    let (len, addr) = (r32(mem, info + 44) as u64, r32(mem, info + 48) as u64);
    assert_eq!(len, 24 * map.entries().len() as u64);
    for (k, e) in map.entries().iter().enumerate() {
        let a = addr + 24 * k as u64;
        assert_eq!(r32(mem, a), 20);
        assert_eq!(
            (r64(mem, a + 4), r64(mem, a + 12), r32(mem, a + 20)),
            (e.base, e.len, e.kind)
        );
    }
}

#[test]
fn multiboot_with_address_fields() {
    let image = mb_kludge(0x10_0000, None);
    let initrd = vec![0x5A; 3000];
    let (mem, map, r) = load_mb(&image, Some(&initrd));
    let s = r.unwrap();
    assert_eq!(s.mode, EntryMode::Protected32);
    assert_eq!(s.rip, 0x10_0080);
    assert_eq!(
        (s.rax, s.rbx),
        (u64::from(BOOTLOADER_MAGIC), MULTIBOOT_INFO_ADDR)
    );
    assert_eq!((s.cr0, s.cr3, s.efer), (CR0_PE | CR0_ET, 0, 0));
    assert_eq!(
        (s.code.selector, s.code.attrs, s.data.selector),
        (BOOT_CS, 0xC09B, BOOT_DS)
    );
    assert_eq!(read(&mem, 0x10_0000, 0x2800), image[..0x2800]);
    assert_eq!(
        read(&mem, 0x10_2800, 0x1800),
        vec![0; 0x1800],
        "bss cleared"
    );
    assert_eq!(s.kernel, (0x10_0000, 0x10_4000));
    check_info(&mem, &map);
    // The module, page-aligned after the bss.
    let info = MULTIBOOT_INFO_ADDR;
    assert_eq!(r32(&mem, info + 20), 1);
    let m = r32(&mem, info + 24) as u64;
    assert_eq!(
        (r32(&mem, m), r32(&mem, m + 4)),
        (0x10_4000, 0x10_4000 + 3000)
    );
    assert_eq!(read(&mem, r32(&mem, m + 8) as u64, 7), b"rd.img\0");
    assert_eq!(read(&mem, 0x10_4000, 3000), initrd);
    assert_eq!(s.initrd, Some((0x10_4000, 0x10_4000 + 3000)));

    // load_end_addr 0 loads the rest of the file.
    let image = mb_kludge(0x20_0000, Some([0x20_0040, 0x20_0000, 0, 0, 0x20_0000]));
    let (mem, _, r) = load_mb(&image, None);
    assert_eq!(r.unwrap().kernel, (0x20_0000, 0x20_3000));
    assert_eq!(read(&mem, 0x20_2FF0, 16), image[0x2FF0..]);
    assert_eq!(r32(&mem, MULTIBOOT_INFO_ADDR + 20), 0, "no modules");
}

/// An ELF32 i386 executable linked at 0xC0200000, loaded at 0x200000: text (with the multiboot header) and a
/// data segment with bss; entry at text + 0x10.
fn elf_image() -> Vec<u8> {
    let mut b = vec![0u8; 0x1200];
    put(&mut b, 0, &[0x7F, b'E', b'L', b'F', 1, 1, 1]);
    put(&mut b, 16, &2u16.to_le_bytes());
    put(&mut b, 18, &3u16.to_le_bytes());
    put(&mut b, 20, &1u32.to_le_bytes());
    put(&mut b, 24, &0xC020_0010u32.to_le_bytes());
    put(&mut b, 28, &52u32.to_le_bytes());
    put(&mut b, 40, &52u16.to_le_bytes());
    put(&mut b, 42, &32u16.to_le_bytes());
    put(&mut b, 44, &3u16.to_le_bytes());
    let ph = |b: &mut Vec<u8>, k: usize, v: [u32; 8]| {
        for (j, x) in v.iter().enumerate() {
            put(b, 52 + 32 * k + 4 * j, &x.to_le_bytes());
        }
    };
    // type, offset, vaddr, paddr, filesz, memsz, flags, align
    ph(
        &mut b,
        0,
        [1, 0x1000, 0xC020_0000, 0x20_0000, 0x100, 0x100, 5, 0x1000],
    );
    ph(&mut b, 1, [4, 0, 0, 0, 0, 0, 4, 4]); // PT_NOTE: skipped
    ph(
        &mut b,
        2,
        [1, 0x1100, 0xC020_1000, 0x20_1000, 0x10, 0x2000, 6, 0x1000],
    );
    put(
        &mut b,
        0x1000,
        &mb_header(multiboot::FLAG_PAGE_ALIGN | multiboot::FLAG_MEMORY_INFO),
    );
    b[0x100c..0x1110].fill(0xC3);
    b
}

#[test]
fn multiboot_elf32() {
    let image = elf_image();
    let (mut mem, map) = memory(RAM);
    mem.write_phys(0x20_1010, &[0xEE; 0x100]).unwrap();
    let req = KernelRequest {
        kernel: &image,
        initrd: Some(b"module"),
        cmdline: "mb args",
        kernel_name: KERNEL_NAME,
        initrd_name: INITRD_NAME,
    };
    let s = load_kernel(&mut mem, &map, &req).unwrap();
    assert_eq!(
        s.rip, 0x20_0010,
        "entry translated from its virtual address"
    );
    assert_eq!(
        (s.rax, s.rbx),
        (u64::from(BOOTLOADER_MAGIC), MULTIBOOT_INFO_ADDR)
    );
    assert_eq!(s.kernel, (0x20_0000, 0x20_3000));
    assert_eq!(read(&mem, 0x20_0000, 0x100), image[0x1000..0x1100]);
    assert_eq!(read(&mem, 0x20_1000, 0x10), image[0x1100..0x1110]);
    assert_eq!(read(&mem, 0x20_1010, 0x100), vec![0; 0x100], "bss cleared");
    assert_eq!(s.initrd, Some((0x20_3000, 0x20_3006)));
    check_info(&mem, &map);
}

#[test]
fn a_multiboot_kernel_below_0x30000_has_its_boot_structures_after_it() {
    // 0x8000..0xC000 with its bss: where the fixed stack, page tables and information structure would go.
    let image = mb_kludge(0x8000, None);
    let initrd = vec![0x77; 100];
    let (mem, _, r) = load_mb(&image, Some(&initrd));
    let s = r.unwrap();
    assert_eq!(s.kernel, (0x8000, 0xC000));
    assert_eq!(
        read(&mem, 0x8000, 0x2800),
        image[..0x2800],
        "the kernel is intact"
    );
    assert_eq!(s.initrd, Some((0xC000, 0xC064)));
    // The page after the module: GDT and stack, then the information structure, then the strings.
    let area = 0xD000;
    assert_eq!(
        (s.gdt_base, s.rsp, s.rbx),
        (area, area + 0xFF0, area + 0x1000)
    );
    assert_eq!(r64(&mem, area + 16), GDT_CODE32);
    let info = s.rbx;
    let cmdline = r32(&mem, info + 16) as u64;
    assert_eq!(cmdline, area + 0x2000);
    assert_eq!(read(&mem, cmdline, 24), b"boot/kernel.elf mb args\0");
    let m = r32(&mem, info + 24) as u64;
    assert_eq!((r32(&mem, m), r32(&mem, m + 4)), (0xC000, 0xC064));
    assert_eq!(read(&mem, r32(&mem, m + 8) as u64, 7), b"rd.img\0");
    let (len, mmap) = (r32(&mem, info + 44), r32(&mem, info + 48) as u64);
    assert!(len > 0 && (info..info + 0x1000).contains(&mmap));
}

fn mb_error(kernel: &[u8]) -> LoadError {
    load_mb(kernel, None).2.unwrap_err()
}

#[test]
fn malformed_multiboot_images_are_rejected_with_clear_errors() {
    let mut bad_sum = mb_kludge(0x10_0000, None);
    bad_sum[0x48] ^= 1;
    let e = mb_error(&bad_sum);
    assert!(
        matches!(e, LoadError::MultibootChecksum { offset: 0x40, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("checksum"), "{e}");

    let mut image = vec![0u8; 0x2000];
    put(&mut image, 0x100, &mb_header(1 << 3));
    let e = mb_error(&image);
    assert!(matches!(e, LoadError::MultibootUnsupported(8)), "{e}");
    // A header past the first 8 KiB is not seen.
    let mut image = vec![0u8; 0x3000];
    put(&mut image, 0x2000, &mb_header(0));
    assert!(matches!(mb_error(&image), LoadError::UnknownFormat));

    let cases: [([u32; 5], &str); 4] = [
        ([0x10_0000, 0x10_0040, 0, 0, 0x10_0040], "below load_addr"),
        ([0x10_1000, 0x10_0000, 0, 0, 0x10_1000], "before the header"),
        (
            [0x10_0040, 0x10_0000, 0x10_8000, 0, 0x10_0040],
            "file has only",
        ),
        (
            [0x10_0040, 0x10_0000, 0x10_2000, 0x10_1000, 0x10_0040],
            "bss_end_addr",
        ),
    ];
    for (fields, text) in cases {
        let e = mb_error(&mb_kludge(0x10_0000, Some(fields)));
        assert!(
            matches!(e, LoadError::MultibootAddresses(_)) && e.to_string().contains(text),
            "{e}"
        );
    }
    let e = mb_error(&mb_kludge(0x3FF_E000, None));
    assert!(
        matches!(e, LoadError::OutsideRam { .. }) && e.to_string().contains("-m"),
        "{e}"
    );

    // Flag 16 clear and not ELF.
    let mut image = vec![0u8; 0x1000];
    put(&mut image, 0x10, &mb_header(0));
    assert!(mb_error(&image).to_string().contains("ELF"));

    // ELF problems.
    let elf_err = |patch: &dyn Fn(&mut Vec<u8>)| {
        let mut image = elf_image();
        patch(&mut image);
        mb_error(&image)
    };
    type Patch<'a> = &'a dyn Fn(&mut Vec<u8>);
    let cases: [(Patch, &str); 6] = [
        (
            &|b| put(b, 28, &0x1_0000u32.to_le_bytes()),
            "program headers",
        ),
        (&|b| b[4] = 2, "EI_CLASS"),
        (&|b| put(b, 18, &62u16.to_le_bytes()), "e_machine"),
        (&|b| put(b, 52 + 16, &0x200u32.to_le_bytes()), "p_filesz"),
        (
            &|b| put(b, 52 + 4, &0x1180u32.to_le_bytes()),
            "past the end of the file",
        ),
        (
            &|b| {
                put(b, 52, &4u32.to_le_bytes());
                put(b, 52 + 64, &4u32.to_le_bytes());
            },
            "no PT_LOAD",
        ),
    ];
    for (patch, text) in cases {
        let e = elf_err(patch);
        assert!(
            matches!(e, LoadError::BadElf(_)) && e.to_string().contains(text),
            "{text}: {e}"
        );
    }
    let e = elf_err(&|b| put(b, 52 + 12, &0xFFFF_FF80u32.to_le_bytes()));
    assert!(e.to_string().contains("4 GiB"), "{e}");
}

// ---- the real Debian kernel -----------------------------------------------------------------------------------

#[test]
fn debian_kernel_header_and_load() {
    let Some((kernel, initrd)) = common::debian_guest() else {
        return;
    };
    let h = SetupHeader::parse(&kernel).unwrap();
    assert!(h.version >= 0x020C, "protocol {:#x}", h.version);
    assert!(h.has_64bit_entry() && h.relocatable);
    assert!(h.init_size as usize > kernel.len() - h.kernel_offset());
    let (mut mem, map) = memory(256 << 20);
    let req = KernelRequest {
        kernel: &kernel,
        initrd: Some(&initrd),
        cmdline: "console=ttyS0 panic=-1",
        ..KernelRequest::default()
    };
    let s = load_kernel(&mut mem, &map, &req).unwrap();
    assert_eq!(s.mode, EntryMode::Long64);
    assert_eq!(s.rip, h.pref_address + 0x200);
    let (rd, end) = s.initrd.unwrap();
    assert!(rd >= h.pref_address + u64::from(h.init_size) && end <= 256 << 20);
    assert_eq!(read(&mem, rd, 64), initrd[..64]);
}

#[test]
fn mutated_and_truncated_images_never_panic() {
    let (mut mem, map) = memory(RAM);
    let mut seed = 0x1234_5678_9ABC_DEF0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let images = [
        Bz::default().build(),
        mb_kludge(0x10_0000, None),
        elf_image(),
    ];
    for image in &images {
        for len in (0..image.len()).step_by(61) {
            let req = KernelRequest {
                kernel: &image[..len],
                initrd: Some(b"x"),
                cmdline: "c",
                ..KernelRequest::default()
            };
            let _ = load_kernel(&mut mem, &map, &req);
        }
        for _ in 0..400 {
            let mut m = image.clone();
            for _ in 0..4 {
                let r = next();
                let at = (r as usize >> 8) % 0x300.min(m.len());
                m[at] = r as u8;
            }
            let req = KernelRequest {
                kernel: &m,
                initrd: Some(b"x"),
                cmdline: "c",
                ..KernelRequest::default()
            };
            let _ = load_kernel(&mut mem, &map, &req);
        }
    }
}
