//! The cost of a display refresh: the VGA rendering a Bochs VBE 1024x768x32 screen into a `Frame` when every line
//! changed, when one line did, and when nothing did (what a display front end pays per frame), and an 80x25 text
//! screen redrawn whole.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use vx86_devices::bus::IoDevice;
use vx86_devices::vga::vbe::{reg, ENABLED, LFB_ENABLED, VBE_DATA, VBE_INDEX};
use vx86_devices::vga::{DAC_DATA, DAC_WRITE_INDEX};
use vx86_devices::{Frame, Vga};

/// A VGA showing a 1024x768x32 VBE mode with something drawn in it, rendered once.
fn vbe_screen() -> (Vga, Frame) {
    let mut vga = Vga::new();
    for (index, value) in [(reg::XRES, 1024), (reg::YRES, 768), (reg::BPP, 32)] {
        vga.io_write(VBE_INDEX, 2, u32::from(index));
        vga.io_write(VBE_DATA, 2, value);
    }
    vga.io_write(VBE_INDEX, 2, u32::from(reg::ENABLE));
    vga.io_write(VBE_DATA, 2, u32::from(ENABLED | LFB_ENABLED));
    for k in 0..1024 * 768u64 {
        vga.lfb_write(4 * k, 4, k * 0x010203);
    }
    let mut frame = Frame::default();
    vga.render(&mut frame);
    (vga, frame)
}

/// A DAC write: the whole picture counts as changed.
fn touch_palette(vga: &mut Vga) {
    vga.io_write(DAC_WRITE_INDEX, 1, 0);
    for _ in 0..3 {
        vga.io_write(DAC_DATA, 1, 0);
    }
}

fn refresh(c: &mut Criterion) {
    let mut group = c.benchmark_group("display");
    let (mut vga, mut frame) = vbe_screen();
    group.bench_function("vbe_1024x768x32_every_line", |b| {
        b.iter(|| {
            touch_palette(&mut vga);
            vga.render(&mut frame)
        })
    });
    let mut pixel = 0u64;
    group.bench_function("vbe_1024x768x32_one_line", |b| {
        b.iter(|| {
            pixel += 1;
            vga.lfb_write(4 * 1024 * 400, 4, pixel);
            vga.render(&mut frame)
        })
    });
    group.bench_function("vbe_1024x768x32_unchanged", |b| {
        b.iter(|| vga.render(&mut frame))
    });
    let mut text = Vga::new();
    for k in 0..4000u64 {
        text.window_write(
            0xB_8000 + k,
            if k % 2 == 0 {
                b'A' + (k % 26) as u8
            } else {
                0x1E
            },
        );
    }
    let mut frame = Frame::default();
    group.bench_function("text_80x25_whole_screen", |b| {
        b.iter(|| {
            touch_palette(&mut text);
            text.render(&mut frame)
        })
    });
    group.finish();
}

criterion_group!(benches, refresh);
criterion_main!(benches);
