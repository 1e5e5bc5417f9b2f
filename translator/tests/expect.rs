//! Expect tests: the host code generated for a handful of representative guest blocks (an ALU loop, memory
//! accesses, SSE, a callout, a conditional branch, stack operations, a call followed into its callee) is pinned in
//! `tests/expect/*.txt`, so a change in generated code shows up in review. Host pointers (callout addresses, site
//! records) are normalised to `<ptr>`. To accept a deliberate change:
//! `VX86_ACCEPT=1 cargo test -p vx86-translator --test expect`, then review the diff of the files.

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, long_mode_cpu, FlatBus};
use vx86_translator::Translator;

const CODE: u64 = 0x10_0000;
const DATA: u64 = 0x20_0000;

/// Translates and runs `build`'s 64-bit code; returns every block's listing, normalised.
fn listings(build: impl FnOnce(&mut CodeAssembler)) -> String {
    let code = assemble(64, CODE, build);
    let mut bus = FlatBus::new(4 << 20);
    bus.load(CODE, &code);
    let mut cpu = long_mode_cpu(&mut bus, CODE, 0x30_0000);
    cpu.state.gpr[3] = DATA;
    cpu.state.cr4 |= vx86_cpu::state::cr4::OSFXSR;
    let mut translator = Translator::new(1 << 20).unwrap();
    translator.listings = Some(Vec::new());
    translator.run(&mut cpu, &mut bus, 10_000);
    let text = translator.listings.unwrap_or_default().concat();
    normalise_pointers(&text)
}

/// Replaces hexadecimal numbers of nine or more significant digits that are not sign-extended masks (that is, host
/// addresses) by `<ptr>`.
fn normalise_pointers(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive([' ', ',', '\n', '[', ']']) {
        let core = word.trim_end_matches([' ', ',', '\n', '[', ']']);
        let digits = core.trim_end_matches('h').trim_start_matches('0');
        let pointer = core.ends_with('h')
            && digits.len() >= 9
            && !digits.starts_with("FFFFFFFF")
            && digits.chars().all(|c| c.is_ascii_hexdigit());
        if pointer {
            out.push_str("<ptr>");
            out.push_str(&word[core.len()..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

fn check(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expect")
        .join(format!("{name}.txt"));
    if std::env::var("VX86_ACCEPT").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with VX86_ACCEPT=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "host code for {name} changed; if that is intended, run with VX86_ACCEPT=1 and review the diff.\n\
         now:\n{actual}"
    );
}

#[test]
fn an_alu_loop() {
    check(
        "alu_loop",
        &listings(|a| {
            let mut top = a.create_label();
            a.mov(ecx, 3u32).unwrap();
            a.set_label(&mut top).unwrap();
            a.add(eax, ecx).unwrap();
            a.dec(ecx).unwrap();
            a.jne(top).unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn memory_accesses() {
    check(
        "memory",
        &listings(|a| {
            a.mov(rax, qword_ptr(rbx + 8)).unwrap();
            a.add(qword_ptr(rbx + 16), rax).unwrap();
            a.movzx(ecx, byte_ptr(rbx + rax * 4 + 1)).unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn rep_stos_and_rep_movs() {
    check(
        "rep_string",
        &listings(|a| {
            a.lea(rdi, qword_ptr(rbx + 0x100)).unwrap();
            a.mov(ecx, 16).unwrap();
            a.rep().stosq().unwrap();
            a.lea(rsi, qword_ptr(rbx + 0x100)).unwrap();
            a.mov(ecx, 64).unwrap();
            a.rep().movsb().unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn sse_moves_and_integer_operations() {
    check(
        "sse",
        &listings(|a| {
            a.movdqa(xmm1, xmmword_ptr(rbx + 0x20)).unwrap();
            a.pcmpeqb(xmm1, xmm0).unwrap();
            a.pmovmskb(eax, xmm1).unwrap();
            a.movdqu(xmmword_ptr(rbx + 0x41), xmm1).unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn a_callout_for_a_sensitive_instruction() {
    check(
        "callout",
        &listings(|a| {
            a.xor(eax, eax).unwrap();
            a.cpuid().unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn a_conditional_branch_with_flags_from_the_host() {
    check(
        "branch",
        &listings(|a| {
            let mut below = a.create_label();
            a.cmp(rax, rbx).unwrap();
            a.jb(below).unwrap();
            a.inc(rcx).unwrap();
            a.set_label(&mut below).unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn stack_operations() {
    check(
        "stack",
        &listings(|a| {
            let mut function = a.create_label();
            a.push(rbx).unwrap();
            a.call(function).unwrap();
            a.pop(rbx).unwrap();
            a.hlt().unwrap();
            a.set_label(&mut function).unwrap();
            a.ret().unwrap();
        }),
    );
}

#[test]
fn a_loop_calling_an_empty_function() {
    // The nanobenchmark's call_ret loop: the CALL, the callee's RET and the JMP after the call all follow in the
    // loop's block.
    check(
        "call_ret_loop",
        &listings(|a| {
            let (mut top, mut function, mut after) =
                (a.create_label(), a.create_label(), a.create_label());
            a.mov(ebp, 100).unwrap();
            a.set_label(&mut top).unwrap();
            a.call(function).unwrap();
            a.jmp(after).unwrap();
            a.set_label(&mut function).unwrap();
            a.ret().unwrap();
            a.set_label(&mut after).unwrap();
            a.dec(ebp).unwrap();
            a.jnz(top).unwrap();
            a.hlt().unwrap();
        }),
    );
}

#[test]
fn a_call_whose_return_is_not_known() {
    // The callee stores to memory (it might overwrite its return address), so its RET reads the slot and looks its
    // target up, and the CALL is not followed: it ends its block, as an ordinary one.
    check(
        "call_unknown_return",
        &listings(|a| {
            let mut function = a.create_label();
            a.call(function).unwrap();
            a.hlt().unwrap();
            a.set_label(&mut function).unwrap();
            a.mov(qword_ptr(rbx), rax).unwrap();
            a.ret().unwrap();
        }),
    );
}

#[test]
fn pointers_are_normalised_and_offsets_kept() {
    assert_eq!(
        normalise_pointers("mov rsi,7F48BD014A80h\n  host +00344  call rax"),
        "mov rsi,<ptr>\n  host +00344  call rax"
    );
}
