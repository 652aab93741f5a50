//! Work on many files in parallel with the results handed over in input order, as soon as
//! each is next: no batch waits for its slowest file while cores idle, and at most a window
//! of finished results waits for one still running (memory stays bounded). The caller learns
//! when no result is ready, to flush its output then.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};

/// Results that may be finished ahead of the one next in order.
pub const WINDOW: usize = 256;

/// Runs `work` on every item on `threads` threads (at least one) and gives each result to
/// `sink` on the calling thread in the items' order, with whether the next result is
/// already there (when it is not, the caller may flush what it wrote). An item is started
/// only when fewer than `window` items before it are still waiting to be handed over.
/// `sink` returning `Break` stops the work: items not started are left alone.
pub fn for_each_ordered<T, R>(
    items: &[T],
    threads: usize,
    window: usize,
    work: impl Fn(&T) -> R + Sync,
    mut sink: impl FnMut(&T, R, bool) -> ControlFlow<()>,
) where
    T: Sync,
    R: Send,
{
    let window = window.max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // The index of the item `sink` gets next; workers wait on `moved` for it to advance.
    let handed = Mutex::new(0usize);
    let moved = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            let tx = tx.clone();
            let (next, stop, handed, moved, work) = (&next, &stop, &handed, &moved, &work);
            scope.spawn(move || {
                // A panicking `work` must not leave the others waiting for its result.
                let _wake = WakeOnPanic { stop, moved };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut at = handed.lock().unwrap_or_else(PoisonError::into_inner);
                    while i >= *at + window && !stop.load(Ordering::Relaxed) {
                        at = moved.wait(at).unwrap_or_else(PoisonError::into_inner);
                    }
                    drop(at);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if tx.send((i, work(&items[i]))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut want = 0usize;
        'receive: while let Ok((i, result)) = rx.recv() {
            waiting.insert(i, result);
            // Everything already sent, so that `sink` learns whether the next is there.
            while let Ok((i, result)) = rx.try_recv() {
                waiting.insert(i, result);
            }
            while let Some(result) = waiting.remove(&want) {
                let more = waiting.contains_key(&(want + 1));
                let flow = sink(&items[want], result, more);
                want += 1;
                *handed.lock().unwrap_or_else(PoisonError::into_inner) = want;
                if flow.is_break() {
                    stop.store(true, Ordering::Relaxed);
                    moved.notify_all();
                    break 'receive;
                }
                moved.notify_all();
            }
        }
    });
}

struct WakeOnPanic<'a> {
    stop: &'a AtomicBool,
    moved: &'a Condvar,
}

impl Drop for WakeOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.stop.store(true, Ordering::Relaxed);
            self.moved.notify_all();
        }
    }
}

/// Threads for files in parallel: the machine's cores.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_in_order_whatever_order_they_finish_in() {
        let items: Vec<u64> = (0..500).collect();
        let mut seen = Vec::new();
        for_each_ordered(
            &items,
            4,
            8,
            |&i| {
                // Early items finish last within each stretch.
                std::thread::sleep(Duration::from_micros((10 - i % 10) * 50));
                i * 2
            },
            |&i, r, _| {
                assert_eq!(r, i * 2);
                seen.push(i);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(seen, items);
    }

    #[test]
    fn no_item_starts_a_window_ahead_of_the_one_handed_over_next() {
        let items: Vec<usize> = (0..200).collect();
        let handed = AtomicUsize::new(0);
        let ahead = AtomicUsize::new(0);
        for_each_ordered(
            &items,
            3,
            5,
            |&i| {
                let gap = i - handed.load(Ordering::SeqCst);
                ahead.fetch_max(gap, Ordering::SeqCst);
                if i == 0 || i == 100 {
                    std::thread::sleep(Duration::from_millis(30));
                }
            },
            |&i, (), _| {
                handed.store(i + 1, Ordering::SeqCst);
                ControlFlow::Continue(())
            },
        );
        // Item i starts once fewer than 5 before it wait: handed > i - 5.
        let max = ahead.load(Ordering::SeqCst);
        assert!((1..5).contains(&max), "started {max} ahead");
    }

    /// The caller flushes when the next result is not there yet: after the last one, and
    /// while a slow item is still running; not while finished results queue up.
    #[test]
    fn the_sink_knows_whether_the_next_result_is_there() {
        let items: Vec<u64> = (0..6).collect();
        let mut seen = Vec::new();
        for_each_ordered(
            &items,
            3,
            8,
            |&i| match i {
                0 => std::thread::sleep(Duration::from_millis(200)),
                3 => std::thread::sleep(Duration::from_millis(400)),
                _ => {}
            },
            |&i, (), more| {
                seen.push((i, more));
                ControlFlow::Continue(())
            },
        );
        // 1 and 2 finish while 0 sleeps; 3 is still asleep when 2 is handed over; 4 and 5
        // finished while it slept.
        assert_eq!(
            seen,
            [
                (0, true),
                (1, true),
                (2, false),
                (3, true),
                (4, true),
                (5, false)
            ]
        );
    }

    #[test]
    fn a_break_stops_the_work() {
        let items: Vec<usize> = (0..10_000).collect();
        let started = AtomicUsize::new(0);
        let mut got = 0;
        for_each_ordered(
            &items,
            2,
            4,
            |_| {
                started.fetch_add(1, Ordering::SeqCst);
            },
            |&i, (), _| {
                got += 1;
                if i == 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(got, 10);
        assert!(started.load(Ordering::SeqCst) <= 10 + 4 + 2);
    }

    #[test]
    fn a_panicking_item_does_not_hang_the_others() {
        let items: Vec<usize> = (0..100).collect();
        let outcome = std::panic::catch_unwind(|| {
            for_each_ordered(
                &items,
                2,
                4,
                |&i| assert_ne!(i, 3, "item 3 fails"),
                |_, (), _| ControlFlow::Continue(()),
            );
        });
        assert!(outcome.is_err());
    }

    #[test]
    fn nothing_to_do_is_fine() {
        let mut calls = 0;
        for_each_ordered(
            &[] as &[u8],
            4,
            4,
            |_| (),
            |_, (), _| {
                calls += 1;
                ControlFlow::Continue(())
            },
        );
        assert_eq!(calls, 0);
    }
}
