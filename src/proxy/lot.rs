//! The parking lot: where a worker's idle keep-alive connections wait for
//! their next request without a task each.
//!
//! A parked connection (see [`super::stream`]) holds no hyper state, but a
//! task of its own waiting on the socket would still cost its allocation
//! (task header and the connection's whole future) per idle connection.
//! In the lot it is an entry in a list and a small waker: the socket's
//! readiness wakes the lot's one task, which hands that connection back
//! ([`Parkable::resume`] starts a task for its next request); a deadline
//! (the head timeout, the route's `timeout`) or the listener's drain
//! closes it. nginx keeps an idle keep-alive connection as a few hundred
//! bytes of connection and event structs in the same spirit.

use super::drain::Drain;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use tokio::time::Instant;

/// What can wait in the lot: an idle connection.
pub(super) trait Parkable: Send + 'static {
    /// Polls the socket for readability (a request, or the peer's close).
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Serves the connection's next request (on a task of its own).
    fn resume(self);
    /// Closes the connection: it expired, failed, or the listener drains.
    fn close(self);
}

/// One worker's lot (cheap to clone); its task runs on that worker.
pub(super) struct Lot<P>(Arc<Shared<P>>);

impl<P> Clone for Lot<P> {
    fn clone(&self) -> Self {
        Lot(Arc::clone(&self.0))
    }
}

struct Shared<P> {
    state: Mutex<State<P>>,
    /// Entries whose socket woke, as (place, generation).
    woken: Mutex<Vec<(usize, u32)>>,
    /// The lot task's waker.
    task: Mutex<Option<Waker>>,
    /// An entry parked with a deadline before the task's timer.
    rearm: AtomicBool,
}

struct State<P> {
    places: Vec<Place<P>>,
    free: Vec<usize>,
    /// Deadlines, earliest first; stale ones (the entry left) are skipped,
    /// and dropped in one rebuild once they outnumber the live ones.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// The deadline the task's timer is set to.
    armed: Option<Instant>,
    /// The listener drains: nothing parks any more.
    closed: bool,
}

struct Place<P> {
    generation: u32,
    deadline: Instant,
    entry: Option<P>,
}

/// Wakes the lot for one entry (the socket's readiness holds it).
struct EntryWaker<P> {
    lot: Arc<Shared<P>>,
    place: usize,
    generation: u32,
}

impl<P: Parkable> Wake for EntryWaker<P> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.lot.woken).push((self.place, self.generation));
        self.lot.wake_task();
    }
}

impl<P> Shared<P> {
    fn wake_task(&self) {
        if let Some(task) = lock(&self.task).as_ref() {
            task.wake_by_ref();
        }
    }
}

/// A poisoned lock still holds consistent lists (nothing here panics
/// while holding one).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P: Parkable> Lot<P> {
    /// A lot whose task (started here, on the caller's runtime) runs
    /// until `drain` starts, then closes every entry.
    pub(super) fn start(drain: &Arc<Drain>) -> Lot<P> {
        let lot = Lot(Arc::new(Shared {
            state: Mutex::new(State {
                places: Vec::new(),
                free: Vec::new(),
                deadlines: BinaryHeap::new(),
                armed: None,
                closed: false,
            }),
            woken: Mutex::new(Vec::new()),
            task: Mutex::new(None),
            rearm: AtomicBool::new(false),
        }));
        tokio::spawn(lot.clone().run(Arc::clone(drain)));
        lot
    }

    /// Parks `entry` until its socket is readable (then it is resumed) or
    /// `deadline` (then it is closed). A socket readable already is handed
    /// back at once, for the caller to go on serving.
    pub(super) fn park(&self, entry: P, deadline: Instant) -> Option<P> {
        let mut state = lock(&self.0.state);
        if state.closed {
            drop(state);
            entry.close();
            return None;
        }
        let place = match state.free.pop() {
            Some(place) => place,
            None => {
                state.places.push(Place {
                    generation: 0,
                    deadline,
                    entry: None,
                });
                state.places.len() - 1
            }
        };
        let generation = state.places[place].generation;
        let waker = Waker::from(Arc::new(EntryWaker {
            lot: Arc::clone(&self.0),
            place,
            generation,
        }));
        match entry.poll_readable(&mut Context::from_waker(&waker)) {
            Poll::Pending => {
                let p = &mut state.places[place];
                p.entry = Some(entry);
                p.deadline = deadline;
                state.deadlines.push(Reverse((deadline, place, generation)));
                if state.armed.map_or(true, |armed| deadline < armed) {
                    state.armed = Some(deadline);
                    drop(state);
                    self.0.rearm.store(true, Ordering::Relaxed);
                    self.0.wake_task();
                }
                None
            }
            // Readable, or failed: the caller's next read says which.
            Poll::Ready(_) => {
                state.release(place);
                Some(entry)
            }
        }
    }

    async fn run(self, drain: Arc<Drain>) {
        let mut draining = drain.started();
        let far = || Instant::now() + std::time::Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        // Buffers kept from wake to wake.
        let (mut woken, mut ready) = (Vec::new(), Vec::new());
        loop {
            let next = {
                let mut state = lock(&self.0.state);
                state.armed = state.earliest();
                state.armed
            };
            // Moved only when it must: most wakes leave the earliest
            // deadline where it was.
            let at = next.unwrap_or_else(far);
            if timer.deadline() != at || timer.is_elapsed() {
                timer.as_mut().reset(at);
            }
            tokio::select! {
                () = &mut draining => {
                    self.close_all();
                    return;
                }
                () = &mut timer => self.close_expired(),
                () = std::future::poll_fn(|cx| self.poll_woken(cx)) => {
                    self.0.rearm.store(false, Ordering::Relaxed);
                    self.resume_woken(&mut woken, &mut ready);
                }
            }
        }
    }

    fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut task = lock(&self.0.task);
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        if lock(&self.0.woken).is_empty() && !self.0.rearm.load(Ordering::Relaxed) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Resumes the entries whose sockets woke; `woken` and `ready` are
    /// the task's buffers (empty between calls).
    fn resume_woken(&self, woken: &mut Vec<(usize, u32)>, ready: &mut Vec<P>) {
        std::mem::swap(woken, &mut *lock(&self.0.woken));
        {
            let mut state = lock(&self.0.state);
            for (place, generation) in woken.drain(..) {
                if let Some(entry) = state.take(place, generation) {
                    ready.push(entry);
                }
            }
        }
        // Outside the lock: resuming may park again at once.
        for entry in ready.drain(..) {
            entry.resume();
        }
    }

    fn close_expired(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut state = lock(&self.0.state);
            while let Some(&Reverse((at, place, generation))) = state.deadlines.peek() {
                if at > now {
                    break;
                }
                state.deadlines.pop();
                if let Some(entry) = state.take(place, generation) {
                    expired.push(entry);
                }
            }
        }
        for entry in expired {
            entry.close();
        }
    }

    fn close_all(&self) {
        let all: Vec<P> = {
            let mut state = lock(&self.0.state);
            state.closed = true;
            state.deadlines.clear();
            state.free.clear();
            std::mem::take(&mut state.places)
                .into_iter()
                .filter_map(|p| p.entry)
                .collect()
        };
        for entry in all {
            entry.close();
        }
    }
}

impl<P> State<P> {
    /// The entry at `place` if it is still the one `generation` named.
    fn take(&mut self, place: usize, generation: u32) -> Option<P> {
        let p = self.places.get_mut(place)?;
        if p.generation != generation {
            return None;
        }
        let entry = p.entry.take()?;
        self.release(place);
        // Every place not free holds an entry.
        let parked = self.places.len() - self.free.len();
        if self.deadlines.len() > 2 * parked + 64 {
            self.deadlines = self
                .places
                .iter()
                .enumerate()
                .filter(|(_, p)| p.entry.is_some())
                .map(|(i, p)| Reverse((p.deadline, i, p.generation)))
                .collect();
        }
        Some(entry)
    }

    /// Frees `place` for another entry; wakes meant for this one are
    /// ignored from now on.
    fn release(&mut self, place: usize) {
        if let Some(p) = self.places.get_mut(place) {
            p.generation = p.generation.wrapping_add(1);
            self.free.push(place);
        }
    }

    /// The earliest deadline of an entry still parked.
    fn earliest(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, place, generation))) = self.deadlines.peek() {
            let live = self
                .places
                .get(place)
                .is_some_and(|p| p.generation == generation && p.entry.is_some());
            if live {
                return Some(at);
            }
            self.deadlines.pop();
        }
        None
    }
}
