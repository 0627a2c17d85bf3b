//! Moving large messages off the JavaScript thread, in order.
//!
//! A [`Lane`] is one direction of one session: a codec whose messages must be
//! processed strictly one after another (a DEFLATE context depends on every
//! message before it). Small messages are processed inline on the caller's
//! thread while the lane is idle. A large one, and every message that arrives
//! while the lane has work on a worker, is queued; the lane is then run by one
//! worker of a small shared [`Pool`] until its queue is empty, so its messages
//! are still processed in arrival order and never two at once. Results go to
//! each job's `deliver` function, in the order the jobs were queued.
//!
//! A worker takes the codec out of the lane while it runs it, so the lane's
//! lock is held during compression only by an inline message on an idle lane
//! ([`Lane::try_inline`]); the caller's thread never waits for a worker's
//! compression, only for a queue operation.
//!
//! A worker thread that cannot be started is counted
//! ([`Pool::spawn_failures`], [`spawn_failures`]); the pool runs on the
//! workers it has, and a pool with none runs each lane on the thread that
//! queued the message, so no message is lost.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;

/// What a worker does with one message.
pub trait Codec: Send + 'static {
    /// The result of one message, sent to the job's `deliver`.
    type Output: Send + 'static;
    /// Processes one message, in order after every message before it.
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
    /// The message, copied out of the caller's buffer.
    pub input: Vec<u8>,
    /// Called once with the message's result, on the thread that ran it.
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

/// What [`Lane::try_inline`] did with a message.
pub enum Inline<O> {
    /// Processed on the caller's thread; here is its result.
    Done(O),
    /// The lane has work queued or on a worker: the message must be queued
    /// behind it ([`Lane::enqueue`]).
    Busy,
}

/// One direction of one session: its codec and the messages waiting for it.
pub struct Lane<C: Codec> {
    state: Mutex<LaneState<C>>,
    pool: Arc<Pool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a codec is caught by the worker; the state stays usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: Codec> Lane<C> {
    /// A lane whose queued messages run on the shared pool.
    pub fn new(codec: C) -> Arc<Lane<C>> {
        Lane::on(codec, Arc::clone(Pool::shared()))
    }

    /// A lane whose queued messages run on `pool`.
    pub fn on(codec: C, pool: Arc<Pool>) -> Arc<Lane<C>> {
        Arc::new(Lane {
            state: Mutex::new(LaneState {
                codec: Some(codec),
                queue: VecDeque::new(),
                running: false,
                closed: false,
            }),
            pool,
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
            self.pool.submit(Box::new(move || lane.run()));
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

/// Work for a pool thread: a lane's run, or a worker's loop.
pub type Task = Box<dyn FnOnce() + Send>;

/// Starts a thread named `name` that runs `work`: [`thread_spawn`], or in
/// tests one that fails.
pub type Spawn = fn(name: String, work: Task) -> io::Result<()>;

/// Starts a real thread.
pub fn thread_spawn(name: String, work: Task) -> io::Result<()> {
    thread::Builder::new().name(name).spawn(work).map(drop)
}

/// A fixed set of worker threads sharing one queue of tasks; they sleep
/// when there is no work. With no worker (none could be started), a task
/// runs on the thread that submits it.
pub struct Pool {
    tasks: Mutex<VecDeque<Task>>,
    ready: Condvar,
    workers: AtomicUsize,
    spawn_failures: AtomicUsize,
    /// Why the first worker that failed to start failed.
    spawn_error: OnceLock<String>,
}

impl Pool {
    /// The pool the lanes of [`Lane::new`] use: started on first use, with
    /// [`pool_size`] threads for the process's `WSX_DEFLATE_THREADS` and
    /// cores.
    pub fn shared() -> &'static Arc<Pool> {
        SHARED.get_or_init(|| {
            let cores = thread::available_parallelism().map_or(1, |n| n.get());
            let configured = std::env::var(POOL_SIZE_VARIABLE).ok();
            Pool::start(pool_size(configured.as_deref(), cores), thread_spawn)
        })
    }

    /// A pool of `threads` workers started with `spawn`; those that fail to
    /// start are counted, not retried.
    pub fn start(threads: usize, spawn: Spawn) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            tasks: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            workers: AtomicUsize::new(0),
            spawn_failures: AtomicUsize::new(0),
            spawn_error: OnceLock::new(),
        });
        for i in 0..threads {
            let worker = Arc::clone(&pool);
            match spawn(format!("wsx-deflate-{i}"), Box::new(move || worker.work())) {
                Ok(()) => {
                    pool.workers.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    pool.spawn_failures.fetch_add(1, Ordering::Relaxed);
                    // The first reason is kept; later failures are counted.
                    let _ = pool.spawn_error.set(e.to_string());
                }
            }
        }
        pool
    }

    /// How many worker threads run.
    pub fn workers(&self) -> usize {
        self.workers.load(Ordering::Relaxed)
    }

    /// How many worker threads failed to start.
    pub fn spawn_failures(&self) -> usize {
        self.spawn_failures.load(Ordering::Relaxed)
    }

    /// The operating system's reason the first worker that failed to start
    /// failed.
    pub fn spawn_error(&self) -> Option<&str> {
        self.spawn_error.get().map(String::as_str)
    }

    fn submit(&self, task: Task) {
        if self.workers() == 0 {
            // No worker to wake: the task runs here rather than never.
            run_caught(task);
            return;
        }
        lock(&self.tasks).push_back(task);
        self.ready.notify_one();
    }

    fn work(&self) {
        let _ = ON_WORKER.try_with(|on| on.set(true));
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
            run_caught(task);
        }
    }
}

static SHARED: OnceLock<Arc<Pool>> = OnceLock::new();

thread_local! {
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is a pool's worker (the broadcast cache coalesces
/// the workers' compressions across threads: deflate/shared.rs).
pub fn on_worker() -> bool {
    ON_WORKER.try_with(|on| on.get()).unwrap_or(false)
}

/// Makes this thread count as a worker (tests of what workers share).
#[cfg(test)]
pub fn act_as_worker() {
    ON_WORKER.with(|on| on.set(true));
}

/// The environment variable that sets the shared pool's size: a whole
/// number from 1 to [`MAX_POOL_SIZE`], read when the pool starts (the first
/// large message of the process).
pub const POOL_SIZE_VARIABLE: &str = "WSX_DEFLATE_THREADS";
/// The default pool size is the number of cores up to this: libuv's default
/// thread pool, which Node's own zlib uses. One process per core (a
/// cluster) thus starts at most four workers each, not one per core each.
pub const DEFAULT_POOL_CAP: usize = 4;
/// The largest size [`POOL_SIZE_VARIABLE`] may ask for (libuv's limit).
pub const MAX_POOL_SIZE: usize = 1024;

/// The shared pool's size for the variable's value `configured` (if set)
/// and `cores`: the value when it is a whole number from 1 to
/// [`MAX_POOL_SIZE`], otherwise the cores up to [`DEFAULT_POOL_CAP`] (at
/// least one).
pub fn pool_size(configured: Option<&str>, cores: usize) -> usize {
    configured
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
        .unwrap_or_else(|| cores.clamp(1, DEFAULT_POOL_CAP))
}

/// How many worker threads the shared pool runs (0 before its first use).
pub fn pool_workers() -> usize {
    SHARED.get().map_or(0, |pool| pool.workers())
}

/// How many of the shared pool's worker threads failed to start (0 before
/// its first use).
pub fn spawn_failures() -> usize {
    SHARED.get().map_or(0, |pool| pool.spawn_failures())
}

/// The operating system's reason the shared pool's first worker that failed
/// to start failed, if one did.
pub fn spawn_error() -> Option<String> {
    SHARED
        .get()
        .and_then(|pool| pool.spawn_error().map(str::to_owned))
}

fn run_caught(task: Task) {
    // A panicking task must not take the worker (or the caller) down with
    // it; a lane catches its codec's panics itself.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
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

    fn refuse(_name: String, _work: Task) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::WouldBlock, "no threads left"))
    }

    /// Starts every worker but the second.
    fn refuse_the_second(name: String, work: Task) -> io::Result<()> {
        if name.ends_with("-1") {
            refuse(name, work)
        } else {
            thread_spawn(name, work)
        }
    }

    /// Queues `count` messages on a lane of `pool`; their results arrive on
    /// the receiver, in the order they were delivered.
    fn queue_on(pool: Arc<Pool>, count: u8) -> mpsc::Receiver<Vec<u8>> {
        let lane = Lane::on(
            Recorder {
                seen: vec![],
                released: false,
            },
            pool,
        );
        let (tx, rx) = mpsc::channel();
        for i in 0..count {
            let tx = tx.clone();
            lane.enqueue(Job {
                input: vec![i; 10],
                deliver: Box::new(move |out| tx.send(out).unwrap()),
            });
        }
        rx
    }

    #[test]
    fn with_no_worker_started_queued_messages_run_on_the_caller_and_arrive() {
        let pool = Pool::start(3, refuse);
        assert_eq!((pool.workers(), pool.spawn_failures()), (0, 3));
        assert_eq!(pool.spawn_error(), Some("no threads left"));
        // Delivered before `enqueue` returned, in order.
        let outputs: Vec<Vec<u8>> = queue_on(pool, 5).try_iter().collect();
        assert_eq!(outputs.len(), 5);
        assert_eq!(outputs.last().unwrap(), &[0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_worker_that_fails_to_start_is_counted_and_the_others_run_the_lane() {
        let pool = Pool::start(3, refuse_the_second);
        assert_eq!((pool.workers(), pool.spawn_failures()), (2, 1));
        assert_eq!(pool.spawn_error(), Some("no threads left"));
        let outputs: Vec<Vec<u8>> = queue_on(pool, 5).iter().collect();
        assert_eq!(outputs.len(), 5);
        for (i, out) in outputs.iter().enumerate() {
            assert_eq!(out.len(), i + 1);
        }
    }

    #[test]
    fn the_pool_size_is_the_variable_or_the_cores_up_to_four() {
        assert_eq!(pool_size(None, 1), 1);
        assert_eq!(pool_size(None, 2), 2);
        assert_eq!(pool_size(None, 64), DEFAULT_POOL_CAP);
        assert_eq!(pool_size(None, 0), 1);
        assert_eq!(pool_size(Some("8"), 2), 8);
        assert_eq!(pool_size(Some(" 1 "), 16), 1);
        for bad in ["0", "-1", "two", "", "1.5", "100000"] {
            assert_eq!(pool_size(Some(bad), 3), 3, "{bad:?}");
        }
    }

    #[test]
    fn the_shared_pool_starts_its_workers() {
        let pool = Pool::shared();
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let configured = std::env::var(POOL_SIZE_VARIABLE).ok();
        assert_eq!(pool.workers(), pool_size(configured.as_deref(), cores));
        assert_eq!(pool_workers(), pool.workers());
        assert_eq!((spawn_failures(), pool.spawn_error()), (0, None));
    }
}
