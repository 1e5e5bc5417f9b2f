//! The interpreter engine: vx86-cpu's reference interpreter, run in slices against the board.

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
        let mut lines = vec!["interpreter counts:".to_string()];
        let exceptions = counts
            .exceptions
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(vector, n)| {
                let name = vx86_cpu::fault::vector_mnemonic(vector as u8)
                    .map_or_else(|| format!("vector {vector}"), str::to_string);
                (format!("exception {name}"), *n)
            });
        let rows = [
            ("instructions".to_string(), instructions),
            ("blocks decoded".to_string(), counts.blocks_decoded),
            ("single-stepped".to_string(), counts.single_steps),
        ]
        .into_iter()
        .chain(exceptions);
        lines.extend(rows.map(|(what, n)| format!("  {what:<22} {n:>12}")));
        lines.join("\n")
    }
}
