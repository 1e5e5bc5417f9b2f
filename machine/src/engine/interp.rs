//! The interpreter engine: vx86-cpu's reference interpreter, run in slices against the board.

use crate::board::Board;
use vx86_cpu::{Cpu, Exit};

/// Runs up to `budget` guest instructions with the interpreter.
pub fn run(cpu: &mut Cpu, board: &mut Board, budget: u64) -> Exit {
    cpu.run(board, budget)
}
