//! The binary-translator engine: vx86-translator's code cache and dispatcher, run in slices against the board.

use super::phase_table::{self, Row};
use super::{EngineKind, ExecutionEngine};
use crate::board::Board;
use crate::vm::VmError;
use vx86_cpu::{Cpu, Exit};
use vx86_translator::callout::CalloutStats;
use vx86_translator::{Stats, TraceOptions, Translator};

/// The binary translator as an engine.
pub struct BtEngine {
    translator: Translator,
    /// Whether the CPU's traces were taken over (the translator prints guest code per block, not per run).
    traces_taken: bool,
}

impl BtEngine {
    /// A translator whose code cache holds `code_cache_bytes`.
    pub fn new(code_cache_bytes: usize) -> Result<BtEngine, VmError> {
        let mut translator = Translator::new(code_cache_bytes)
            .map_err(|e| VmError::Unsupported(format!("-accel bt: no code buffer: {e}")))?;
        translator.interpret_first_sights = true;
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
        let spans = phase_table::spans(cpu, instructions);
        // The counts at each phase's start, then now: each phase's counts are the differences.
        let t = &self.translator;
        let mut marks: Vec<Vec<u64>> = vec![counts(&Stats::default(), &CalloutStats::default())];
        marks.extend(t.phase_starts.iter().map(|(s, c)| counts(s, c)));
        marks.truncate(spans.len());
        marks.push(counts(&t.stats, &t.callouts));
        let per_phase = |row: usize| -> Vec<u64> {
            marks
                .windows(2)
                .map(|w| w[1][row].saturating_sub(w[0][row]))
                .collect()
        };
        let mut rows: Vec<Row> = COUNTS
            .iter()
            .enumerate()
            .map(|(k, name)| Row::summed(*name, per_phase(k)))
            .collect();
        // Translation speed: blocks per second of translation time.
        let rate = |blocks: u64, ns: u64| (blocks * 1_000_000_000).checked_div(ns).unwrap_or(0);
        let (blocks, ns) = (per_phase(0), per_phase(1));
        rows.insert(
            2,
            Row {
                name: "translations per sec".to_string(),
                cells: blocks.iter().zip(&ns).map(|(&b, &n)| rate(b, n)).collect(),
                total: rate(t.stats.blocks_translated, t.stats.translate_ns),
            },
        );
        // The callouts and slow paths that cost most over the run, per phase.
        let mnemonics: Vec<iced_x86::Mnemonic> = iced_x86::Mnemonic::values().collect();
        for (what, offset, shown) in [
            ("callout", COUNTS.len(), 24),
            ("slow path", COUNTS.len() + mnemonics.len(), 8),
        ] {
            let now = &marks[marks.len() - 1];
            let mut top: Vec<usize> = (0..mnemonics.len())
                .filter(|&m| now[offset + m] > 0)
                .collect();
            top.sort_by_key(|&m| std::cmp::Reverse(now[offset + m]));
            rows.extend(top.into_iter().take(shown).map(|m| {
                let name = format!("{:?}", mnemonics[m]).to_lowercase();
                Row::summed(format!("{what} {name}"), per_phase(offset + m))
            }));
        }
        let exceptions = cpu.stats.exceptions.iter().sum::<u64>();
        format!(
            "{}
  exceptions (whole run): {exceptions}",
            phase_table::render("translator counts by boot phase:", &spans, &rows)
        )
    }
}

/// The translator's counters that `-d stats` shows per phase, in the order of [`counts`].
const COUNTS: [&str; 21] = [
    "blocks translated",
    "translation ns",
    "host code bytes",
    "code-cache flushes",
    "SMC invalidations",
    "blocks kept after writes beside them",
    "dispatcher entries",
    "lookups from code",
    "chained exits",
    "interpreted instrs",
    "blocks run first in the interpreter",
    "fetched afresh",
    "TLB fills, fast retry",
    "slow paths (TLB miss, loop exit)",
    "page groups translated",
    "accesses sharing a lookup",
    "page-group fallbacks",
    "loops joined from two blocks",
    "blocks run as self-loops",
    "page groups looked up before a loop",
    "jumps, calls and returns followed",
];

/// The counters of [`COUNTS`], then the callouts by mnemonic, then the slow paths by mnemonic, as one vector.
fn counts(s: &Stats, c: &CalloutStats) -> Vec<u64> {
    let mut v = vec![
        s.blocks_translated,
        s.translate_ns,
        s.code_bytes,
        s.flushes,
        s.smc_invalidations,
        s.smc_survivals,
        s.dispatches,
        s.lookups,
        s.links,
        s.interpreted,
        s.first_sights,
        c.fetched,
        c.tlb_fills,
        c.tlb_misses,
        s.page_groups,
        s.grouped_accesses,
        c.group_fallbacks,
        s.joined_loops,
        s.self_loops,
        s.hoisted_groups,
        s.followed_transfers,
    ];
    let mnemonics = iced_x86::Mnemonic::values().count();
    let padded = |counts: &[u64]| {
        (0..mnemonics)
            .map(|m| counts.get(m).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    v.extend(padded(&c.by_mnemonic));
    v.extend(padded(&c.tlb_misses_by_mnemonic));
    v
}
