//! The caches the CPU model describes: a Core 2-like 32 KiB 8-way L1 data and L1 instruction cache and a 4 MiB
//! 16-way L2, all with 64-byte lines, reported through CPUID leaf 4 (deterministic cache parameters, which Linux
//! and memtest86+ read on Intel processors), leaf 2 (whose one descriptor, 0xFF, sends software to leaf 4) and
//! leaf 8000_0006h (the L2 in the form Intel also reports it there).

/// Line size of every cache, in bytes.
const LINE: u32 = 64;

/// One cache as leaf 4 describes it.
struct Cache {
    /// 1: data, 2: instruction, 3: unified.
    kind: u32,
    level: u32,
    ways: u32,
    sets: u32,
}

/// Leaf 4's sub-leaves in order; the one after the last reports no cache (type 0).
const CACHES: [Cache; 3] = [
    Cache {
        kind: 1,
        level: 1,
        ways: 8,
        sets: 64,
    },
    Cache {
        kind: 2,
        level: 1,
        ways: 8,
        sets: 64,
    },
    Cache {
        kind: 3,
        level: 2,
        ways: 16,
        sets: 4096,
    },
];

/// CPUID leaf 2: one iteration (AL = 1) and descriptor 0xFF, "no cache descriptors here: use leaf 4".
pub fn leaf2() -> (u32, u32, u32, u32) {
    (0x0000_FF01, 0, 0, 0)
}

/// CPUID leaf 4, sub-leaf `index`: cache type and level (self-initialising), line size, partitions, ways and sets,
/// each field minus one as the leaf encodes it; one logical processor and one core share each cache.
pub fn leaf4(index: u32) -> (u32, u32, u32, u32) {
    match CACHES.get(index as usize) {
        Some(c) => {
            let eax = c.kind | c.level << 5 | 1 << 8;
            let ebx = (LINE - 1) | (c.ways - 1) << 22;
            (eax, ebx, c.sets - 1, 0)
        }
        None => (0, 0, 0, 0),
    }
}

/// CPUID leaf 8000_0006h: ECX holds the L2's size in KiB (bits 31..16), its associativity code (bits 15..12; 8
/// means 16-way) and its line size.
pub fn leaf_8000_0006() -> (u32, u32, u32, u32) {
    let l2 = &CACHES[2];
    let kib = l2.ways * l2.sets * LINE / 1024;
    (0, 0, kib << 16 | 8 << 12 | LINE, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of the cache leaf 4 sub-leaf `index` describes: ways x partitions x line size x sets.
    fn size(index: u32) -> u32 {
        let (_, ebx, ecx, _) = leaf4(index);
        ((ebx >> 22) + 1) * ((ebx >> 12 & 0x3FF) + 1) * ((ebx & 0xFFF) + 1) * (ecx + 1)
    }

    #[test]
    fn leaf_4_describes_32_kib_l1_caches_a_4_mib_l2_and_then_ends() {
        assert_eq!(leaf4(0).0 & 0xFF, 1 | 1 << 5, "L1 data");
        assert_eq!(leaf4(1).0 & 0xFF, 2 | 1 << 5, "L1 instruction");
        assert_eq!(leaf4(2).0 & 0xFF, 3 | 2 << 5, "L2 unified");
        assert_eq!([size(0), size(1), size(2)], [32 << 10, 32 << 10, 4 << 20]);
        assert_eq!(leaf4(3).0 & 0x1F, 0, "no fourth cache");
    }

    #[test]
    fn leaf_8000_0006_reports_the_same_l2() {
        assert_eq!(leaf_8000_0006().2, 4096 << 16 | 8 << 12 | 64);
    }
}
