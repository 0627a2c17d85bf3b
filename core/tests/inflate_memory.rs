//! Decompression memory stays bounded by `max_len`, whatever the input: a
//! counting allocator watches the peak while a zero bomb is inflated. Its own
//! test binary, so that nothing else allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use websocket_extensions_core::deflate::{Compressor, Decompressor, InflateError, SessionParams};
use websocket_extensions_core::test_support::session_params;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }

    /// A block that moves counts old and new at once; one grown in place
    /// counts only its new size.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved_to = unsafe { System.realloc(ptr, layout, new_size) };
        let with_new = CURRENT.fetch_add(new_size, Ordering::SeqCst) + new_size;
        if moved_to != ptr {
            PEAK.fetch_max(with_new, Ordering::SeqCst);
        }
        let now = CURRENT.fetch_sub(layout.size(), Ordering::SeqCst) - layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        moved_to
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_50_mib_zero_bomb_against_1_mib_stays_near_1_mib() {
    let params = SessionParams {
        level: 9,
        ..session_params(15, false)
    };
    let bomb = Compressor::new(&params)
        .compress(&vec![0u8; 50 << 20])
        .unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());

    let max_len = 1 << 20;
    let mut decompressor = Decompressor::new(&params);
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = decompressor.decompress(&bomb, Some(max_len));
    let peak = PEAK.load(Ordering::SeqCst) - before;

    assert_eq!(result, Err(InflateError::TooLarge));
    // The output buffer (max_len + 1) plus zlib's state and 32 KiB window;
    // while the buffer last grows, an allocator that moves it holds its
    // previous half as well.
    assert!(peak <= max_len * 3 / 2 + 128 * 1024, "peak {peak}");
    eprintln!(
        "bomb {} bytes, peak {peak} bytes for max_len {max_len}",
        bomb.len()
    );
}
