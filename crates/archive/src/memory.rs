//! A process-wide memory budget for the buffers scans hold.
//!
//! A walk holds a buffer per nesting level, and a server runs many walks at once: without a
//! shared bound, workers × depth × `max_member_bytes` could exhaust memory. Every buffer a scan
//! grows is first reserved from one [`MemoryBudget`] shared by all scans, through the scan's
//! [`ScanMemory`]; the [`Reservation`] gives the bytes back when it is dropped.
//!
//! A scan that cannot get its bytes waits for other scans to give some back (a bounded wait on
//! a condition variable: scans run on OS threads). The request fails instead — and the walk
//! records [`crate::Limit::Memory`] — when it exceeds the whole budget, when the scan's waits
//! add up to [`MemoryBudget::wait`], or when waiting could only end in a deadlock: every scan
//! holding the bytes it needs is itself waiting. Then the youngest waiting scan gives way (its
//! request fails, it finishes and releases what it holds), so the oldest ones go on.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Bytes of memory shared by scans: cheap to clone (an `Arc`), `Send` and `Sync`.
#[derive(Clone)]
pub struct MemoryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    total: u64,
    wait: Duration,
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Default)]
struct State {
    used: u64,
    peak: u64,
    next_scan: u64,
    /// Scans holding or waiting for memory, by age (the oldest first).
    scans: BTreeMap<u64, Holder>,
}

#[derive(Default)]
struct Holder {
    held: u64,
    waiting: bool,
}

impl State {
    fn holder(&mut self, scan: u64) -> &mut Holder {
        self.scans.entry(scan).or_default()
    }

    /// Forgets a scan that neither holds nor waits.
    fn tidy(&mut self, scan: u64) {
        if self
            .scans
            .get(&scan)
            .is_some_and(|h| h.held == 0 && !h.waiting)
        {
            self.scans.remove(&scan);
        }
    }
}

/// Why a reservation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The scan would hold more than the whole budget.
    #[error(
        "memory budget: a scan would hold {needed} bytes at once, more than the whole budget \
         ({total} bytes)"
    )]
    TooLarge { needed: u64, total: u64 },
    /// The bytes did not become free in time.
    #[error(
        "memory budget: {request} more bytes not free after waiting {waited_ms} ms (budget \
         {total} bytes, {used} in use)"
    )]
    Timeout {
        request: u64,
        waited_ms: u64,
        total: u64,
        used: u64,
    },
    /// Every scan holding the bytes was itself waiting: this (youngest) scan gave way.
    #[error(
        "memory budget: {request} more bytes not free (budget {total} bytes, {used} in use) and \
         the scans holding them are waiting too; this scan gave way"
    )]
    GaveWay { request: u64, total: u64, used: u64 },
    /// An earlier request of the scan failed: it no longer waits.
    #[error("memory budget: {request} more bytes not free (budget {total} bytes, {used} in use)")]
    Busy { request: u64, total: u64, used: u64 },
}

impl MemoryBudget {
    /// The default total: 384 MiB, so that one member of the default `max_member_bytes`
    /// (256 MiB) can always be expanded while other scans hold their files' buffers.
    pub const DEFAULT_TOTAL: u64 = 384 << 20;
    /// The default longest wait of one scan for memory: 30 s.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

    /// A budget of `total` bytes; a scan waits up to [`Self::DEFAULT_WAIT`] in all for memory.
    #[must_use]
    pub fn new(total: u64) -> Self {
        Self::with_wait(total, Self::DEFAULT_WAIT)
    }

    /// A budget of `total` bytes; a scan's waits for memory add up to `wait` at most.
    #[must_use]
    pub fn with_wait(total: u64, wait: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                total,
                wait,
                state: Mutex::new(State::default()),
                released: Condvar::new(),
            }),
        }
    }

    /// A budget that never refuses (what [`crate::walk`] uses).
    #[must_use]
    pub fn unlimited() -> Self {
        Self::with_wait(u64::MAX, Duration::ZERO)
    }

    /// The budget in bytes.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.shared.total
    }

    /// How long a scan may wait for memory, all its waits together.
    #[must_use]
    pub fn wait(&self) -> Duration {
        self.shared.wait
    }

    /// Bytes reserved now.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    /// The most bytes ever reserved at once (never above [`Self::total`]).
    #[must_use]
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    /// Starts a scan: its reservations count as one holder (see the module doc).
    #[must_use]
    pub fn scan(&self) -> ScanMemory {
        let id = {
            let mut state = self.lock();
            state.next_scan += 1;
            state.next_scan
        };
        ScanMemory {
            budget: self.clone(),
            id,
            deadline: Cell::new(None),
            failed: Cell::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryBudget {
    /// A budget of [`Self::DEFAULT_TOTAL`].
    fn default() -> Self {
        Self::new(Self::DEFAULT_TOTAL)
    }
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryBudget")
            .field("total", &self.shared.total)
            .field("used", &state.used)
            .field("peak", &state.peak)
            .field("wait", &self.shared.wait)
            .finish()
    }
}

/// One scan's access to a [`MemoryBudget`]: what it holds, and how long it may still wait.
/// Made by [`MemoryBudget::scan`]; one per scan, used from one thread at a time.
pub struct ScanMemory {
    budget: MemoryBudget,
    id: u64,
    /// When the scan's waiting ends (set at its first wait).
    deadline: Cell<Option<Instant>>,
    /// A request failed: later ones do not wait.
    failed: Cell<bool>,
}

impl ScanMemory {
    /// The budget this scan draws from.
    #[must_use]
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Bytes this scan holds now.
    #[must_use]
    pub fn held(&self) -> u64 {
        self.budget.lock().scans.get(&self.id).map_or(0, |h| h.held)
    }

    /// An empty reservation, to [`Reservation::grow_to`] as a buffer grows.
    #[must_use]
    pub fn reservation(&self) -> Reservation<'_> {
        Reservation {
            scan: self,
            bytes: 0,
        }
    }

    /// Reserves `bytes`, waiting for them if need be (see the module doc).
    pub fn reserve(&self, bytes: u64) -> Result<Reservation<'_>, MemoryError> {
        let mut r = self.reservation();
        r.grow_to(bytes)?;
        Ok(r)
    }

    fn acquire(&self, request: u64) -> Result<(), MemoryError> {
        if request == 0 {
            return Ok(());
        }
        let shared = &self.budget.shared;
        let total = shared.total;
        let mut state = self.budget.lock();
        let held = state.scans.get(&self.id).map_or(0, |h| h.held);
        let needed = held.saturating_add(request);
        if needed > total {
            // Not contention: the scan may still wait for smaller requests.
            return Err(MemoryError::TooLarge { needed, total });
        }
        let mut started: Option<Instant> = None;
        loop {
            // A scan that gave up once takes nothing more while others wait: it is finishing,
            // and what it would take is what they wait for.
            let yields = self.failed.get() && state.scans.values().any(|h| h.waiting);
            if !yields
                && let Some(used) = state.used.checked_add(request)
                && used <= total
            {
                state.used = used;
                state.peak = state.peak.max(used);
                let holder = state.holder(self.id);
                holder.held += request;
                holder.waiting = false;
                return Ok(());
            }
            let used = state.used;
            if self.failed.get() {
                return Err(MemoryError::Busy {
                    request,
                    total,
                    used,
                });
            }
            let now = Instant::now();
            let deadline = self.deadline.get().unwrap_or_else(|| {
                let deadline = later(now, shared.wait);
                self.deadline.set(Some(deadline));
                deadline
            });
            if now >= deadline {
                let waited = started.map_or(Duration::ZERO, |s| now - s);
                return Err(self.give_up(
                    state,
                    MemoryError::Timeout {
                        request,
                        waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                        total,
                        used,
                    },
                ));
            }
            started.get_or_insert(now);
            let was_waiting = std::mem::replace(&mut state.holder(self.id).waiting, true);
            // Could the bytes ever come without another waiting scan giving up?
            let (others_waiting, youngest_waiting) = state
                .scans
                .iter()
                .filter(|(_, h)| h.waiting)
                .fold((0u64, 0u64), |(sum, youngest), (&id, h)| {
                    let sum = if id == self.id {
                        sum
                    } else {
                        sum.saturating_add(h.held)
                    };
                    (sum, youngest.max(id))
                });
            if held.saturating_add(others_waiting).saturating_add(request) > total
                && youngest_waiting == self.id
            {
                return Err(self.give_up(
                    state,
                    MemoryError::GaveWay {
                        request,
                        total,
                        used,
                    },
                ));
            }
            if !was_waiting {
                // Younger waiters may now have to give way.
                shared.released.notify_all();
            }
            state = shared
                .released
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Ends a wait that failed: the scan stops waiting, now and later.
    fn give_up(&self, mut state: MutexGuard<'_, State>, error: MemoryError) -> MemoryError {
        state.holder(self.id).waiting = false;
        state.tidy(self.id);
        drop(state);
        self.failed.set(true);
        self.budget.shared.released.notify_all();
        error
    }

    fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut state = self.budget.lock();
        state.used = state.used.saturating_sub(bytes);
        let holder = state.holder(self.id);
        holder.held = holder.held.saturating_sub(bytes);
        state.tidy(self.id);
        drop(state);
        self.budget.shared.released.notify_all();
    }
}

impl fmt::Debug for ScanMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanMemory")
            .field("scan", &self.id)
            .field("held", &self.held())
            .field("failed", &self.failed.get())
            .finish()
    }
}

/// Bytes reserved by a scan; given back when dropped.
#[derive(Debug)]
pub struct Reservation<'s> {
    scan: &'s ScanMemory,
    bytes: u64,
}

impl Reservation<'_> {
    /// Bytes reserved.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reserves more, up to `bytes` in all (nothing when it already holds that much).
    pub fn grow_to(&mut self, bytes: u64) -> Result<(), MemoryError> {
        if bytes <= self.bytes {
            return Ok(());
        }
        self.scan.acquire(bytes - self.bytes)?;
        self.bytes = bytes;
        Ok(())
    }

    /// Gives back all but `bytes`.
    pub fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            self.scan.release(self.bytes - bytes);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.scan.release(self.bytes);
    }
}

/// `now + wait`, or a year from now when that does not fit in an `Instant`.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reserve_release_and_peak() {
        let budget = MemoryBudget::with_wait(100, Duration::ZERO);
        let scan = budget.scan();
        let mut a = scan.reserve(60).unwrap();
        assert_eq!((budget.used(), scan.held()), (60, 60));
        a.grow_to(80).unwrap();
        assert_eq!(budget.used(), 80);
        let other = budget.scan();
        assert!(matches!(
            other.reserve(30),
            Err(MemoryError::Timeout { .. } | MemoryError::GaveWay { .. })
        ));
        a.shrink_to(50);
        drop(a);
        assert_eq!((budget.used(), budget.peak()), (0, 80));
        assert!(matches!(
            budget.scan().reserve(101),
            Err(MemoryError::TooLarge { needed: 101, .. })
        ));
        assert!(budget.lock().scans.is_empty());
    }

    #[test]
    fn a_waiting_scan_gets_what_another_releases() {
        let budget = MemoryBudget::with_wait(100, Duration::from_secs(20));
        let first = budget.scan();
        let held = first.reserve(90).unwrap();
        let b = budget.clone();
        let waiter = std::thread::spawn(move || {
            let scan = b.scan();
            scan.reserve(50).map(|r| r.bytes())
        });
        while !budget.lock().scans.values().any(|h| h.waiting) {
            std::thread::yield_now();
        }
        drop(held);
        assert_eq!(waiter.join().unwrap(), Ok(50));
        assert_eq!(budget.peak(), 90);
    }

    /// Two scans each hold part and wait for more: the younger gives way at once (no
    /// timeout), and the older gets the bytes when the younger releases.
    #[test]
    fn a_deadlock_ends_with_the_youngest_giving_way() {
        let budget = MemoryBudget::with_wait(100, Duration::from_secs(60));
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let b = budget.clone();
        let start = Instant::now();
        let old = std::thread::spawn(move || {
            let older = b.scan();
            let _held = older.reserve(50).unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            older.reserve(45).map(|r| r.bytes())
        });
        held_rx.recv().unwrap();
        let younger = budget.scan();
        let held_young = younger.reserve(40).unwrap();
        go_tx.send(()).unwrap();
        while !budget.lock().scans.values().any(|h| h.waiting) {
            std::thread::yield_now();
        }
        let error = younger.reserve(30).unwrap_err();
        assert!(matches!(error, MemoryError::GaveWay { .. }), "{error}");
        // Later requests of the scan that gave way fail without waiting, and while the older
        // one waits it gets nothing, not even what would fit.
        assert!(matches!(younger.reserve(20), Err(MemoryError::Busy { .. })));
        assert!(matches!(younger.reserve(5), Err(MemoryError::Busy { .. })));
        drop(held_young);
        assert_eq!(old.join().unwrap(), Ok(45));
        assert!(start.elapsed() < Duration::from_secs(30));
        assert_eq!(budget.used(), 0);
        assert!(budget.peak() <= 100);
    }
}
