//! Moving large messages off the JavaScript thread, in order.
//!
//! A [`Lane`] is one direction of one session: a codec whose messages must be
//! processed strictly one after another (a DEFLATE context depends on every
//! message before it). Small messages are processed inline on the caller's
//! thread while the lane is idle. A large one, and every message that arrives
//! while the lane has work on a worker, is queued; the lane is then run by one
//! worker of a small shared pool until its queue is empty, so its messages are
//! still processed in arrival order and never two at once. Results go to each
//! job's `deliver` function, in the order the jobs were queued.
//!
//! The codec is taken out of the lane while a worker runs it, so the lane's
//! lock is only ever held for queue operations, never during compression:
//! the JavaScript thread never waits for a worker.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

/// What a worker does with one message.
pub trait Codec: Send + 'static {
    type Output: Send + 'static;
    fn process(&mut self, input: &[u8]) -> Self::Output;
    /// Frees the codec's memory; it is allocated again on next use.
    fn release(&mut self);
    /// Gives working memory back between messages, keeping what the next
    /// message needs; a no-op by default.
    fn rest(&mut self) {}
    /// The result of a message whose processing panicked. The codec has
    /// been released by then.
    fn panicked() -> Self::Output;
}

/// A queued message and where its result goes.
pub struct Job<O> {
    pub input: Vec<u8>,
    pub deliver: Box<dyn FnOnce(O) + Send>,
}

struct LaneState<C: Codec> {
    /// `None` while a worker has it.
    codec: Option<C>,
    queue: VecDeque<Job<C::Output>>,
    /// A worker owns the lane until its queue is empty.
    running: bool,
    /// Release the codec once the queue is empty (the session closed).
    closed: bool,
}

/// Either the inline result, or the input handed back because the lane is
/// busy and it must be queued.
pub enum Inline<O> {
    Done(O),
    Busy,
}

pub struct Lane<C: Codec> {
    state: Mutex<LaneState<C>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a codec is caught by the worker; the state stays usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: Codec> Lane<C> {
    pub fn new(codec: C) -> Arc<Lane<C>> {
        Arc::new(Lane {
            state: Mutex::new(LaneState {
                codec: Some(codec),
                queue: VecDeque::new(),
                running: false,
                closed: false,
            }),
        })
    }

    /// Processes `input` on this thread if the lane is idle.
    pub fn try_inline(&self, input: &[u8]) -> Inline<C::Output> {
        let mut state = lock(&self.state);
        if state.running || !state.queue.is_empty() {
            return Inline::Busy;
        }
        match state.codec.as_mut() {
            Some(codec) => Inline::Done(codec.process(input)),
            None => Inline::Busy,
        }
    }

    /// Whether messages are queued or being processed on a worker.
    pub fn is_busy(&self) -> bool {
        let state = lock(&self.state);
        state.running || !state.queue.is_empty()
    }

    /// Queues a message for a worker; its result goes to `job.deliver`.
    pub fn enqueue(self: &Arc<Self>, job: Job<C::Output>) {
        let start = {
            let mut state = lock(&self.state);
            state.queue.push_back(job);
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            let lane = Arc::clone(self);
            pool().submit(Box::new(move || lane.run()));
        }
    }

    /// Lets the codec rest if the lane is idle; false when a worker has it
    /// (it is working, so it should not rest).
    pub fn rest(&self) -> bool {
        let mut state = lock(&self.state);
        if state.running || !state.queue.is_empty() {
            return false;
        }
        match state.codec.as_mut() {
            Some(codec) => {
                codec.rest();
                true
            }
            None => false,
        }
    }

    /// Runs `f` on the codec if no worker has it.
    pub fn peek<T>(&self, f: impl FnOnce(&C) -> T) -> Option<T> {
        lock(&self.state).codec.as_ref().map(f)
    }

    /// Frees the codec now if the lane is idle, or once its queue drains.
    pub fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        if !state.running {
            if let Some(codec) = state.codec.as_mut() {
                codec.release();
            }
        }
    }

    /// Runs on a worker: processes queued jobs until none is left.
    fn run(&self) {
        loop {
            let (job, mut codec) = {
                let mut state = lock(&self.state);
                match state.queue.pop_front() {
                    Some(job) => match state.codec.take() {
                        Some(codec) => (job, codec),
                        None => {
                            // Cannot happen: only the running worker takes it.
                            state.queue.push_front(job);
                            state.running = false;
                            return;
                        }
                    },
                    None => {
                        state.running = false;
                        if state.closed {
                            if let Some(codec) = state.codec.as_mut() {
                                codec.release();
                            }
                        }
                        return;
                    }
                }
            };
            // A panic must not leave the lane without its codec, or later
            // messages would wait forever: the message fails instead.
            let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                codec.process(&job.input)
            }))
            .unwrap_or_else(|_| {
                codec.release();
                C::panicked()
            });
            drop(job.input);
            lock(&self.state).codec = Some(codec);
            (job.deliver)(output);
        }
    }
}

type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads sharing one queue of tasks. Started on first
/// use, one thread per core (at least two); they sleep when there is no work.
struct Pool {
    tasks: Mutex<VecDeque<Task>>,
    ready: Condvar,
}

fn pool() -> &'static Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool = Arc::new(Pool {
            tasks: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        });
        let threads = thread::available_parallelism().map_or(2, |n| n.get().max(2));
        for i in 0..threads {
            let pool = Arc::clone(&pool);
            let _ = thread::Builder::new()
                .name(format!("wsx-deflate-{i}"))
                .spawn(move || pool.work());
        }
        pool
    })
}

impl Pool {
    fn submit(&self, task: Task) {
        lock(&self.tasks).push_back(task);
        self.ready.notify_one();
    }

    fn work(&self) {
        loop {
            let task = {
                let mut tasks = lock(&self.tasks);
                loop {
                    if let Some(task) = tasks.pop_front() {
                        break task;
                    }
                    tasks = self
                        .ready
                        .wait(tasks)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            // A panicking task must not take the worker down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Appends each input to a running log, so the output shows the order in
    /// which inputs were processed.
    struct Recorder {
        seen: Vec<u8>,
        released: bool,
    }

    impl Codec for Recorder {
        type Output = Vec<u8>;
        fn process(&mut self, input: &[u8]) -> Vec<u8> {
            self.released = false;
            if input.len() > 1 {
                thread::sleep(Duration::from_millis(2));
            }
            self.seen.extend_from_slice(&input[..1]);
            self.seen.clone()
        }
        fn release(&mut self) {
            self.released = true;
        }
        fn panicked() -> Vec<u8> {
            b"panicked".to_vec()
        }
    }

    #[test]
    fn queued_and_inline_messages_keep_arrival_order() {
        let lane = Lane::new(Recorder {
            seen: vec![],
            released: false,
        });
        let (tx, rx) = mpsc::channel();
        for i in 0..20u8 {
            let input = if i % 3 == 0 { vec![i; 100] } else { vec![i] };
            if input.len() == 1 {
                if let Inline::Done(out) = lane.try_inline(&input) {
                    tx.send(out).unwrap();
                    continue;
                }
            }
            let tx = tx.clone();
            lane.enqueue(Job {
                input,
                deliver: Box::new(move |out| tx.send(out).unwrap()),
            });
        }
        drop(tx);
        let outputs: Vec<Vec<u8>> = rx.iter().collect();
        assert_eq!(outputs.len(), 20);
        assert_eq!(outputs.last().unwrap(), &(0..20).collect::<Vec<u8>>());
        // Every result saw exactly the messages before it.
        for (i, out) in outputs.iter().enumerate() {
            assert_eq!(out.len(), i + 1);
        }
    }

    struct Exploding;

    impl Codec for Exploding {
        type Output = Result<(), &'static str>;
        fn process(&mut self, input: &[u8]) -> Self::Output {
            assert!(input[0] != 0, "boom");
            Ok(())
        }
        fn release(&mut self) {}
        fn panicked() -> Self::Output {
            Err("panicked")
        }
    }

    #[test]
    fn a_panicking_codec_fails_its_message_and_the_lane_goes_on() {
        let lane = Lane::new(Exploding);
        let (tx, rx) = mpsc::channel();
        for first in [0u8, 1] {
            let tx = tx.clone();
            lane.enqueue(Job {
                input: vec![first],
                deliver: Box::new(move |out| tx.send(out).unwrap()),
            });
        }
        assert_eq!(rx.recv().unwrap(), Err("panicked"));
        assert_eq!(rx.recv().unwrap(), Ok(()));
    }

    #[test]
    fn close_releases_the_codec_once_the_queue_drains() {
        let lane = Lane::new(Recorder {
            seen: vec![],
            released: false,
        });
        let (tx, rx) = mpsc::channel();
        lane.enqueue(Job {
            input: vec![1; 10],
            deliver: Box::new(move |out| tx.send(out).unwrap()),
        });
        lane.close();
        rx.recv().unwrap();
        while lane.is_busy() {
            thread::yield_now();
        }
        let state = lock(&lane.state);
        assert!(state.codec.as_ref().unwrap().released);
    }
}
