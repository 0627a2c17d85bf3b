//! Each JavaScript thread's native state, with one owner.
//!
//! Everything the binding keeps for a thread (the main thread, or a
//! `worker_thread` that loads the addon) is one [`ThreadState`], in one
//! thread-local. Its rules live in the core (`Container`, `Sessions`); this
//! holds them and the handles into JavaScript.
//!
//! Who frees it, and when:
//! - The environment cleanup hook, registered as the addon is loaded into
//!   an environment, is the one place that frees it: when the environment
//!   ends (a natural end of the main thread, a `worker_thread` that exits or
//!   is terminated, `process.exit()` inside a worker), the hook takes the
//!   state out and drops it in the order of its fields, then frees the
//!   codec's per-thread pools.
//! - A `process.exit()` on the main thread (and an uncaught exception, which
//!   ends the same way) runs no cleanup hook: `exit()` runs the thread's
//!   thread-local destructors instead. The destructor of [`Owner`] then
//!   leaves the state to the operating system: it touches no other
//!   thread-local and calls nothing, since the order in which thread-locals
//!   are destroyed is nobody's to choose (dropping sessions there once
//!   reached the codec's pool after its destruction, and aborted).
//!
//! No borrow of the state is held across a call into JavaScript: the
//! functions that call JavaScript (the idle timer, results of worker jobs)
//! take what they need out first.

use napi::bindgen_prelude::*;
use std::cell::{Cell, RefCell};
use websocket_extensions_core::container::Container;
use websocket_extensions_core::deflate::codec::free_thread_states;
use websocket_extensions_core::deflate::sessions::Sessions;
use websocket_extensions_core::deflate::DeflateConfig;
use websocket_extensions_core::table::Table;

use crate::deflate_binding::Offload;

/// One thread's native state. Its fields are dropped in the order they are
/// declared, and that order is the rule:
/// 1. `containers`, with the deflate sessions one-call handshakes still
///    hold (closed, their codecs to the thread's pool);
/// 2. `sessions`, the deflate sessions JavaScript holds by number (closed
///    the same way; a session whose message is on a worker is released by
///    that worker);
/// 3. `configs`, plain values;
/// 4. `rest_timer` and 5. `offload`: references to JavaScript functions and
///    the threadsafe function of worker results, released while the
///    environment can still take them back.
///
/// After the state, the cleanup hook frees the codec's pools, which steps 1
/// and 2 may have filled.
#[derive(Default)]
pub(crate) struct ThreadState {
    pub containers: Table<Container>,
    pub sessions: Sessions,
    pub configs: Table<DeflateConfig>,
    pub rest_timer: Option<FunctionRef<f64, Unknown<'static>>>,
    pub offload: Offload,
    /// The clock's zero for the idle sweep (milliseconds from it).
    epoch: Option<std::time::Instant>,
}

impl ThreadState {
    /// Milliseconds since this thread first read the clock.
    pub fn now(&mut self) -> u64 {
        let epoch = *self.epoch.get_or_insert_with(std::time::Instant::now);
        epoch.elapsed().as_millis() as u64
    }
}

/// The thread-local owner of a thread's state.
struct Owner {
    state: RefCell<Option<Box<ThreadState>>>,
    /// Whether this environment's cleanup hook is registered.
    hooked: Cell<bool>,
}

impl Drop for Owner {
    /// Runs only when the thread's locals are destroyed with the state still
    /// here, which is `exit()` on the main thread: the state is left to the
    /// operating system, untouched (see the module's documentation).
    fn drop(&mut self) {
        if let Some(state) = self.state.get_mut().take() {
            std::mem::forget(state);
        }
    }
}

thread_local! {
    static OWNER: Owner = const {
        Owner {
            state: RefCell::new(None),
            hooked: Cell::new(false),
        }
    };
}

/// Runs `f` on this thread's state. The state is borrowed for `f` only, and
/// `f` calls no JavaScript.
pub(crate) fn with<T>(f: impl FnOnce(&mut ThreadState) -> Result<T>) -> Result<T> {
    OWNER
        .try_with(|owner| {
            let mut slot = owner
                .state
                .try_borrow_mut()
                .map_err(|_| Error::from_reason("native state is in use (re-entered)"))?;
            f(slot.get_or_insert_with(Box::default))
        })
        .unwrap_or_else(|_| Err(Error::from_reason("the thread is ending")))
}

/// Registers, once per environment, the hook that frees this thread's state
/// when its environment ends. Called as the addon is loaded.
pub(crate) fn watch(env: &Env) -> Result<()> {
    let first = OWNER
        .try_with(|owner| !owner.hooked.replace(true))
        .unwrap_or(false);
    if first {
        env.add_env_cleanup_hook((), |()| end_of_env())?;
    }
    Ok(())
}

/// The environment ended: the state is taken out, then dropped (no borrow
/// is held while it drops), then the codec's pools are freed.
fn end_of_env() {
    let state = OWNER
        .try_with(|owner| {
            owner.hooked.set(false);
            owner.state.try_borrow_mut().ok().and_then(|mut s| s.take())
        })
        .ok()
        .flatten();
    drop(state);
    free_thread_states();
}
