//! What changed between the frame a client last received and the latest one: tiles compared row by row, and the
//! changed tiles of each tile row merged into runs, so an update carries only the changed rectangles.

use super::protocol::Rect;
use vx86_devices::Frame;

/// Side of a compared tile.
pub const DAMAGE_TILE: usize = 16;

/// The rectangles of `region` where `new` differs from `old` (frames of the same size), tile by tile.
pub fn changed_rects(old: &Frame, new: &Frame, region: Rect) -> Vec<Rect> {
    let mut rects = Vec::new();
    let (x_end, y_end) = (region.x + region.width, region.y + region.height);
    for ty in (region.y..y_end).step_by(DAMAGE_TILE) {
        let height = DAMAGE_TILE.min(y_end - ty);
        let mut run: Option<Rect> = None;
        for tx in (region.x..x_end).step_by(DAMAGE_TILE) {
            let width = DAMAGE_TILE.min(x_end - tx);
            let changed =
                (ty..ty + height).any(|y| old.row(y)[tx..tx + width] != new.row(y)[tx..tx + width]);
            match (&mut run, changed) {
                (Some(r), true) => r.width += width,
                (None, true) => {
                    run = Some(Rect {
                        x: tx,
                        y: ty,
                        width,
                        height,
                    })
                }
                (Some(_), false) => rects.extend(run.take()),
                (None, false) => {}
            }
        }
        rects.extend(run);
    }
    rects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_tiles_are_reported_and_neighbours_merge() {
        let old = Frame::new(50, 40);
        let mut new = old.clone();
        let whole = Rect {
            x: 0,
            y: 0,
            width: 50,
            height: 40,
        };
        assert!(changed_rects(&old, &new, whole).is_empty());
        new.pixels[20 * 50 + 17] = 1; // tile (1, 1)
        new.pixels[21 * 50 + 33] = 1; // tile (2, 1)
        new.pixels[39 * 50 + 49] = 1; // tile (3, 2), a partial one at the corner
        assert_eq!(
            changed_rects(&old, &new, whole),
            [
                Rect {
                    x: 16,
                    y: 16,
                    width: 32,
                    height: 16
                },
                Rect {
                    x: 48,
                    y: 32,
                    width: 2,
                    height: 8
                }
            ]
        );
        let left = Rect {
            x: 0,
            y: 0,
            width: 16,
            height: 40,
        };
        assert!(changed_rects(&old, &new, left).is_empty());
    }
}
