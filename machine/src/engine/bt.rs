//! The binary-translator engine: vx86-translator's code cache and dispatcher, run in slices against the board.

use super::{EngineKind, ExecutionEngine};
use crate::board::Board;
use crate::vm::VmError;
use vx86_cpu::{Cpu, Exit};
use vx86_translator::{TraceOptions, Translator};

/// The binary translator as an engine.
pub struct BtEngine {
    translator: Translator,
    /// Whether the CPU's traces were taken over (the translator prints guest code per block, not per run).
    traces_taken: bool,
}

impl BtEngine {
    /// A translator whose code cache holds `code_cache_bytes`.
    pub fn new(code_cache_bytes: usize) -> Result<BtEngine, VmError> {
        let translator = Translator::new(code_cache_bytes)
            .map_err(|e| VmError::Unsupported(format!("-accel bt: no code buffer: {e}")))?;
        Ok(BtEngine {
            translator,
            traces_taken: false,
        })
    }
}

impl ExecutionEngine for BtEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Bt
    }

    fn counts_instructions(&self) -> bool {
        true
    }

    fn run(&mut self, cpu: &mut Cpu, board: &mut Board, budget: u64) -> Exit {
        if !self.traces_taken {
            // `-d in_asm` shows each translated block once (with its host code under `-d out_asm`).
            self.translator.trace = TraceOptions {
                in_asm: cpu.trace.in_asm,
                out_asm: cpu.trace.out_asm,
            };
            cpu.trace.in_asm = false;
            self.traces_taken = true;
        }
        self.translator.run(cpu, board, budget)
    }

    fn stats_report(&self, cpu: &Cpu, instructions: u64) -> String {
        let s = &self.translator.stats;
        let c = &self.translator.callouts;
        let mut rows = vec![
            ("instructions".to_string(), instructions),
            ("blocks translated".to_string(), s.blocks_translated),
            ("host code bytes".to_string(), s.code_bytes),
            ("code-cache flushes".to_string(), s.flushes),
            ("SMC invalidations".to_string(), s.smc_invalidations),
            ("dispatcher entries".to_string(), s.dispatches),
            ("chained exits".to_string(), s.links),
            ("interpreted instrs".to_string(), s.interpreted),
            ("fetched afresh".to_string(), c.fetched),
            ("TLB fills, fast retry".to_string(), c.tlb_fills),
            ("TLB-miss slow paths".to_string(), c.tlb_misses),
        ];
        let mnemonics: Vec<iced_x86::Mnemonic> = iced_x86::Mnemonic::values().collect();
        for (what, counts, shown) in [
            ("callout", &c.by_mnemonic, 24),
            ("slow path", &c.tlb_misses_by_mnemonic, 8),
        ] {
            let mut top: Vec<(usize, u64)> = counts
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, n)| *n > 0)
                .collect();
            top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
            rows.extend(top.into_iter().take(shown).map(|(m, n)| {
                let name = format!("{:?}", mnemonics[m]).to_lowercase();
                (format!("{what} {name}"), n)
            }));
        }
        let exceptions = cpu.stats.exceptions.iter().sum::<u64>();
        rows.push(("exceptions".to_string(), exceptions));
        let mut lines = vec!["translator counts:".to_string()];
        lines.extend(
            rows.into_iter()
                .map(|(what, n)| format!("  {what:<22} {n:>12}")),
        );
        lines.join("\n")
    }
}
