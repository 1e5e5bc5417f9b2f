// THROWAWAY dev harness (not to be committed): writes /tmp/bios.bin and /tmp/test.img.
use iced_x86::code_asm::*;

fn put_hex(a: &mut CodeAssembler, hex16: CodeLabel, r: AsmRegister16) {
    a.mov(ax, r).unwrap();
    a.call(hex16).unwrap();
}

fn main() -> Result<(), IcedError> {
    std::fs::write("/tmp/bios.bin", vx86_firmware::bios::image()).unwrap();
    let mut a = CodeAssembler::new(16)?;
    let mut puts = a.create_label();
    let mut hex16 = a.create_label();
    let mut hex8 = a.create_label();
    let mut space = a.create_label();
    let mut nl = a.create_label();
    let mut dap = a.create_label();
    let mut stage2 = a.create_label();
    let mut msg = a.create_label();
    // ---- sector 0 at 0x7C00
    a.cli()?;
    a.xor(ax, ax)?; a.mov(ds, ax)?; a.mov(es, ax)?; a.mov(ss, ax)?; a.mov(sp, 0x7C00)?; a.sti()?;
    a.mov(ax, 0x0E4D)?; a.int(0x10)?; // 'M'
    a.mov(ax, dx)?; a.call(hex16)?; a.call(nl)?;
    // 41h
    a.mov(ah, 0x41)?; a.mov(bx, 0x55AA)?; a.mov(dl, 0x80)?; a.int(0x13)?;
    a.pushf()?; a.pop(si)?;
    put_hex(&mut a, hex16, bx); a.call(space)?; put_hex(&mut a, hex16, cx); a.call(space)?; a.mov(ax, si)?; a.and(ax, 1)?; a.call(hex16)?; a.call(nl)?;
    // 42h read 4 sectors LBA1 -> 0x7E00
    a.mov(ah, 0x42)?; a.mov(dl, 0x80)?; a.mov(si, 0x7C00 + 0x1A0)?; a.int(0x13)?;
    a.jc(nl)?;
    a.jmp_far(0, 0x7E00)?;
    a.set_label(&mut hex16)?;
    a.push(ax)?; a.mov(al, ah)?; a.call(hex8)?; a.pop(ax)?; a.call(hex8)?; a.ret()?;
    a.set_label(&mut hex8)?;
    {
        a.push(ax)?; a.push(bx)?; a.mov(bl, al)?;
        a.shr(al, 4)?; 
        let mut d1 = a.create_label(); let mut d2 = a.create_label();
        a.add(al, 0x30)?; a.cmp(al, 0x39)?; a.jbe(d1)?; a.add(al, 7)?; a.set_label(&mut d1)?; a.mov(ah, 0x0E)?; a.int(0x10)?;
        a.mov(al, bl)?; a.and(al, 0x0F)?;
        a.add(al, 0x30)?; a.cmp(al, 0x39)?; a.jbe(d2)?; a.add(al, 7)?; a.set_label(&mut d2)?; a.mov(ah, 0x0E)?; a.int(0x10)?;
        a.pop(bx)?; a.pop(ax)?; a.ret()?;
    }
    a.set_label(&mut space)?; a.push(ax)?; a.mov(ax, 0x0E20)?; a.int(0x10)?; a.pop(ax)?; a.ret()?;
    a.set_label(&mut nl)?; a.push(ax)?; a.mov(ax, 0x0E0D)?; a.int(0x10)?; a.mov(ax, 0x0E0A)?; a.int(0x10)?; a.pop(ax)?; a.ret()?;
    a.set_label(&mut msg)?; a.db(b"stage2 here\r\n\0")?;
    let s0 = a.assemble(0x7C00)?;
    let mut disk = vec![0u8; 1 << 20];
    assert!(s0.len() < 0x1A0, "{}", s0.len());
    disk[..s0.len()].copy_from_slice(&s0);
    // DAP at 0x7DA0: size 16, count 4, buf 0000:7E00, lba 1
    disk[0x1A0..0x1B0].copy_from_slice(&[16, 0, 4, 0, 0x00, 0x7E, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    disk[510] = 0x55; disk[511] = 0xAA;
    let hex16_ip = 0x7C00u64; let _ = hex16_ip; let _ = &mut dap;
    // ---- stage 2 at 0x7E00: needs the sector-0 helper addresses: re-assemble with labels via a second assembler
    let r = {
        let mut b = CodeAssembler::new(16)?;
        // rebuild identical sector 0 to get label ips: simpler to search by known offsets
        b.nop()?; b.assemble(0)?
    };
    let _ = r;
    // find helper addresses by re-assembling sector0 with RETURN_NEW_INSTRUCTION_OFFSETS is awkward; instead
    // stage2 uses its own copies of helpers.
    let mut b = CodeAssembler::new(16)?;
    let mut h16 = b.create_label(); let mut h8 = b.create_label(); let mut sp_ = b.create_label(); let mut nl2 = b.create_label(); let mut h32 = b.create_label();
    let mut e820 = b.create_label(); let mut e820done = b.create_label();
    b.mov(ax, 0x0E53)?; b.int(0x10)?; // 'S'
    b.call(nl2)?;
    // verify sector 5 pattern via CHS 02h: LBA 5 = C0 H0 S6
    b.mov(ax, 0x0201)?; b.mov(cx, 0x0006)?; b.mov(dx, 0x0080)?; b.mov(bx, 0x9000)?; b.int(0x13)?;
    b.pushf()?; b.push(ax)?; b.pop(ax)?; b.call(h16)?; b.call(sp_)?; b.pop(ax)?; b.and(ax, 1)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ax, word_ptr(0x9000))?; b.call(h16)?; b.call(sp_)?; b.mov(ax, word_ptr(0x91FE))?; b.call(h16)?; b.call(nl2)?;
    // E820
    b.xor(ebx, ebx)?;
    b.set_label(&mut e820)?;
    b.mov(eax, 0xE820)?; b.mov(edx, 0x534D4150u32)?; b.mov(ecx, 24)?; b.mov(di, 0x9400)?; b.int(0x15)?;
    b.jc(e820done)?;
    b.push(eax)?; b.pop(eax)?;
    b.mov(eax, dword_ptr(0x9404))?; b.call(h32)?; b.mov(eax, dword_ptr(0x9400))?; b.call(h32)?; b.call(sp_)?;
    b.mov(eax, dword_ptr(0x940C))?; b.call(h32)?; b.mov(eax, dword_ptr(0x9408))?; b.call(h32)?; b.call(sp_)?;
    b.mov(ax, word_ptr(0x9410))?; b.call(h16)?; b.call(sp_)?; b.mov(ax, cx)?; b.call(h16)?; b.call(nl2)?;
    b.test(ebx, ebx)?; b.jnz(e820)?;
    b.set_label(&mut e820done)?;
    // int 12, e801, 88
    b.int(0x12)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ax, 0xE801)?; b.int(0x15)?; b.call(h16)?; b.call(sp_)?; b.mov(ax, bx)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ah, 0x88)?; b.int(0x15)?; b.call(h16)?; b.call(sp_)?; b.int(0x11)?; b.call(h16)?; b.call(nl2)?;
    // 13h 08h and 48h
    b.mov(ah, 0x08)?; b.mov(dl, 0x80)?; b.int(0x13)?; b.mov(ax, cx)?; b.call(h16)?; b.call(sp_)?; b.mov(ax, dx)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ah, 0x15)?; b.mov(dl, 0x80)?; b.int(0x13)?; b.call(h16)?; b.call(sp_)?; b.mov(ax, cx)?; b.call(h16)?; b.mov(ax, dx)?; b.call(h16)?; b.call(sp_)?;
    b.mov(word_ptr(0x9500), 0x1E)?; b.mov(ah, 0x48)?; b.mov(dl, 0x80)?; b.mov(si, 0x9500)?; b.int(0x13)?; b.mov(eax, dword_ptr(0x9510))?; b.call(h32)?; b.call(sp_)?;
    // bad drive
    b.mov(ah, 0x02)?; b.mov(al, 1)?; b.mov(dl, 0x81)?; b.mov(cx, 1)?; b.mov(bx, 0x9000)?; b.int(0x13)?; b.pushf()?; b.call(h16)?; b.pop(ax)?; b.and(ax, 1)?; b.call(h16)?; b.call(nl2)?;
    // write test: 43h write LBA 10 from 0x9000 (pattern sector), then read LBA 10 CHS (S=11) to 0xA000
    b.mov(si, 0x9600)?; b.mov(byte_ptr(si), 16)?; b.mov(byte_ptr(si+1), 0)?; b.mov(word_ptr(si+2), 1)?; b.mov(word_ptr(si+4), 0x9000)?; b.mov(word_ptr(si+6), 0)?; b.mov(dword_ptr(si+8), 10)?; b.mov(dword_ptr(si+12), 0)?;
    b.mov(ah, 0x43)?; b.mov(dl, 0x80)?; b.int(0x13)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ax, 0x0201)?; b.mov(cx, 0x000B)?; b.mov(dx, 0x0080)?; b.mov(bx, 0xA000)?; b.int(0x13)?; b.call(h16)?; b.call(sp_)?; b.mov(ax, word_ptr(0xA1FE))?; b.call(h16)?; b.call(nl2)?;
    // time
    b.mov(ah, 0)?; b.int(0x1A)?; b.push(dx)?; b.mov(ax, cx)?; b.call(h16)?; b.pop(ax)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ah, 2)?; b.int(0x1A)?; b.mov(ax, cx)?; b.call(h16)?; b.mov(ax, dx)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ah, 4)?; b.int(0x1A)?; b.mov(ax, cx)?; b.call(h16)?; b.mov(ax, dx)?; b.call(h16)?; b.call(nl2)?;
    // wait ~ a few ticks with sti/hlt to check IRQ0
    b.sti()?; b.mov(cx, 5)?; let mut w = b.create_label(); b.set_label(&mut w)?; b.hlt()?; b.loop_(w)?;
    b.mov(ah, 0)?; b.int(0x1A)?; b.mov(ax, dx)?; b.call(h16)?; b.call(nl2)?;
    // 13h write string
    b.mov(ax, 0x1301)?; b.mov(bx, 0x001F)?; b.mov(cx, 5)?; b.mov(dx, 0x1000)?; b.push(cs)?; b.pop(es)?; b.mov(bp, 0x7E00 + 0x7F0)?; b.int(0x10)?; b.call(nl2)?;
    // keyboard: check then wait
    b.mov(ah, 1)?; b.int(0x16)?; b.pushf()?; b.pop(ax)?; b.and(ax, 0x40)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ah, 0)?; b.int(0x16)?; b.call(h16)?; b.call(sp_)?;
    b.mov(ah, 0)?; b.int(0x16)?; b.call(h16)?; b.call(nl2)?;
    // scroll test: scroll up window
    b.mov(ax, 0x0601)?; b.mov(bh, 0x07)?; b.mov(cx, 0)?; b.mov(dx, 0x184F)?; b.int(0x10)?;
    b.mov(ax, 0x0E44)?; b.int(0x10)?; b.mov(ax, 0x0E4F)?; b.int(0x10)?; b.mov(ax, 0x0E4E)?; b.int(0x10)?; b.mov(ax, 0x0E45)?; b.int(0x10)?; b.call(nl2)?;
    let mut hl = b.create_label(); b.set_label(&mut hl)?; b.cli()?; b.hlt()?; b.jmp(hl)?;
    // helpers
    b.set_label(&mut h32)?; b.push(eax)?; b.shr(eax, 16)?; b.call(h16)?; b.pop(eax)?; b.call(h16)?; b.ret()?;
    b.set_label(&mut h16)?; b.push(ax)?; b.mov(al, ah)?; b.call(h8)?; b.pop(ax)?; b.call(h8)?; b.ret()?;
    b.set_label(&mut h8)?;
    {
        b.push(ax)?; b.push(bx)?; b.mov(bl, al)?; b.shr(al, 4)?;
        let mut d1 = b.create_label(); let mut d2 = b.create_label();
        b.add(al, 0x30)?; b.cmp(al, 0x39)?; b.jbe(d1)?; b.add(al, 7)?; b.set_label(&mut d1)?; b.mov(ah, 0x0E)?; b.int(0x10)?;
        b.mov(al, bl)?; b.and(al, 0x0F)?;
        b.add(al, 0x30)?; b.cmp(al, 0x39)?; b.jbe(d2)?; b.add(al, 7)?; b.set_label(&mut d2)?; b.mov(ah, 0x0E)?; b.int(0x10)?;
        b.pop(bx)?; b.pop(ax)?; b.ret()?;
    }
    b.set_label(&mut sp_)?; b.push(ax)?; b.mov(ax, 0x0E20)?; b.int(0x10)?; b.pop(ax)?; b.ret()?;
    b.set_label(&mut nl2)?; b.push(ax)?; b.mov(ax, 0x0E0D)?; b.int(0x10)?; b.mov(ax, 0x0E0A)?; b.int(0x10)?; b.pop(ax)?; b.ret()?;
    let s2 = b.assemble(0x7E00)?;
    assert!(s2.len() < 0x7F0, "{}", s2.len());
    disk[512..512 + s2.len()].copy_from_slice(&s2);
    disk[512 + 0x7F0..512 + 0x7F5].copy_from_slice(b"HELLO");
    for i in 0..512 { disk[5 * 512 + i] = i as u8 ^ 0x5A; }
    std::fs::write("/tmp/test.img", &disk).unwrap();
    let _ = (&mut puts, &mut msg, &mut dap, &mut stage2);
    Ok(())
}
