//! The interpreter engine: vx86-cpu's reference interpreter, run in slices against the board.

use super::phase_table;
use super::{EngineKind, ExecutionEngine};
use crate::board::Board;
use vx86_cpu::{Cpu, Exit};

/// The reference interpreter as an engine: all its state (caches, counters) lives in the [`Cpu`].
pub struct InterpEngine;

impl ExecutionEngine for InterpEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Interp
    }

    fn counts_instructions(&self) -> bool {
        true
    }

    fn run(&mut self, cpu: &mut Cpu, board: &mut Board, budget: u64) -> Exit {
        cpu.run(board, budget)
    }

    fn stats_report(&self, cpu: &Cpu, instructions: u64) -> String {
        let counts = &cpu.stats;
        let exceptions = counts
            .exceptions
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(vector, n)| {
                let name = vx86_cpu::fault::vector_mnemonic(vector as u8)
                    .map_or_else(|| format!("vector {vector}"), str::to_string);
                format!("\n  exception {name:<22} {n:>12}")
            });
        let spans = phase_table::spans(cpu, instructions);
        let mut text = phase_table::render("interpreter counts by boot phase:", &spans, &[]);
        text.push_str(&format!(
            "\n  blocks decoded (whole run): {}\n  single-stepped (whole run): {}",
            counts.blocks_decoded, counts.single_steps
        ));
        text.extend(exceptions);
        text
    }
}
