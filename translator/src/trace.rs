//! `-d in_asm,out_asm`: each new block's guest instructions, each followed by the host code it became, so a student
//! sees which guest instruction turned into which host instructions (the exits and slow paths come last). Each
//! block's header names its host address, so a host profile's samples in the code cache (`perf report` shows them
//! as offsets into the `vx86-code-cache` mapping) can be traced back to guest code.

use crate::emit::Site;
use crate::TraceOptions;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};

/// The listing of a block translated from `sites` into `code`, placed at host address `base`, whose host code for
/// site k starts at offset `starts[k]`. Host instructions show their offset in the block.
pub(crate) fn listing(
    code: &[u8],
    base: usize,
    sites: &[Site],
    starts: &[usize],
    trace: TraceOptions,
) -> String {
    let end = code.len();
    let mut formatter = IntelFormatter::new();
    let mut out = String::new();
    let phys = sites.first().map_or(0, |s| s.phys);
    out.push_str(&format!("block at phys {phys:#x}: host {base:016X}h\n"));
    for (k, site) in sites.iter().enumerate() {
        if trace.in_asm {
            let mut text = String::new();
            if site.via == crate::emit::Via::Fetch {
                text.push_str(
                    "(fetched and decoded when run: crosses the page or the limit, or is invalid)",
                );
            } else {
                formatter.format(&site.instr, &mut text);
                if site.crossing {
                    text.push_str("  (crosses into the next page: runs while the TLB epoch it was fetched in lasts)");
                }
            }
            out.push_str(&format!("  guest {:#010x}  {text}\n", site.instr.ip()));
        }
        if trace.out_asm {
            let to = starts.get(k + 1).copied().unwrap_or(end);
            host_lines(&mut out, &mut formatter, code, base, starts[k], to);
        }
    }
    if trace.out_asm {
        out.push_str("  exits and slow paths:\n");
        let from = sites.len().checked_sub(1).map_or(end, |last| {
            // The last instruction's own code is listed above; what follows it is shared by the block.
            starts.get(last + 1).copied().unwrap_or(end)
        });
        host_lines(&mut out, &mut formatter, code, base, from.min(end), end);
    }
    out
}

fn host_lines(
    out: &mut String,
    formatter: &mut IntelFormatter,
    code: &[u8],
    base: usize,
    from: usize,
    to: usize,
) {
    let Some(bytes) = code.get(from..to) else {
        return;
    };
    let mut decoder = Decoder::with_ip(64, bytes, (base + from) as u64, DecoderOptions::NONE);
    for instr in decoder.iter() {
        let mut text = String::new();
        formatter.format(&instr, &mut text);
        let offset = instr.ip() - base as u64;
        out.push_str(&format!("           host +{offset:05x}  {text}\n"));
    }
}
