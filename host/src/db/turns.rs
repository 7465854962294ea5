//! Turns to use the writer connection: whoever waits gets it in the order they came (each
//! waiter parks its thread and is woken when its turn comes), and write transactions that
//! queue behind each other form one commit group. The connection itself and what runs on
//! it belong to the writer module; this is only the queue.

use super::{DbError, DbResult};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread, ThreadId};

/// Most write transactions in one group: bounds how long the first of them waits for its
/// commit (each member is one plugin call, well under a millisecond when the portal is
/// busy).
const MAX_GROUP: usize = 32;

/// The writer connection and who may use it: the turn goes to those who wait for it in
/// the order they came (each waiter parks its thread and is woken when its turn comes).
#[derive(Default)]
pub(super) struct Turns {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Whether someone holds the turn.
    taken: bool,
    /// The thread that took the turn, while it is taken.
    holder: Option<ThreadId>,
    /// The connection, while nobody holds it (opened at the first write).
    conn: Option<Connection>,
    /// Who waits for the turn, in the order they came.
    queue: VecDeque<Queued>,
    /// The next waiter's number.
    next: u64,
    /// The group whose transaction is open on the connection, between two of its members.
    open: Option<OpenGroup>,
}

/// One waiter for the turn.
struct Queued {
    number: u64,
    waiter: Waiter,
    thread: Thread,
}

impl State {
    /// The first waiter in the queue who may have the turn now: a write transaction joins
    /// the open group, or begins a new one unless a plain turn waits (checkpoints are not
    /// starved); a plain turn needs the connection outside any transaction.
    pub(super) fn first_eligible(&self) -> Option<&Queued> {
        if self.taken {
            return None;
        }
        let plain_waits = self.queue.iter().any(|q| q.waiter == Waiter::Plain);
        self.queue.iter().find(|q| match q.waiter {
            Waiter::Write => self.open.is_some() || !plain_waits,
            Waiter::Plain => self.open.is_none(),
        })
    }

    /// Wakes the waiter whose turn it is now, if any.
    pub(super) fn wake_next(&self) {
        if let Some(next) = self.first_eligible() {
            next.thread.unpark();
        }
    }
}

/// A group of write transactions whose SQLite transaction is open.
#[derive(Default)]
pub(super) struct OpenGroup {
    /// Where its members learn how the commit went.
    pub(super) outcome: Arc<Outcome>,
    /// Members that joined it so far.
    pub(super) joined: usize,
    /// Members whose writes it holds (not rolled back).
    pub(super) kept: usize,
}

/// How a group's commit went, once it is known.
#[derive(Default)]
pub(super) struct Outcome {
    result: Mutex<Option<Result<(), String>>>,
    known: Condvar,
}

impl Outcome {
    pub(super) fn tell(&self, result: Result<(), String>) {
        *lock(&self.result) = Some(result);
        self.known.notify_all();
    }

    pub(super) fn wait(&self) -> DbResult<()> {
        let mut result = lock(&self.result);
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone().map_err(DbError::GroupFailed);
            }
            result = self.known.wait(result).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Who waits for the turn.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiter {
    /// A write transaction: it may join the open group.
    Write,
    /// A plain turn: it needs the connection outside any transaction.
    Plain,
}

impl Turns {
    /// Waits for the turn; the connection (if opened yet) and the open group (only for a
    /// write transaction). Refused to the thread that holds the turn: it would wait for
    /// itself, and every writer behind it, forever.
    pub(super) fn take(&self, waiter: Waiter) -> DbResult<(Option<Connection>, Option<OpenGroup>)> {
        let mut state = lock(&self.state);
        if state.taken && state.holder == Some(thread::current().id()) {
            return Err(DbError::Invalid(
                "this thread already holds the turn to write: end its transaction first".into(),
            ));
        }
        let number = state.next;
        state.next += 1;
        state.queue.push_back(Queued { number, waiter, thread: thread::current() });
        while state.first_eligible().map(|q| q.number) != Some(number) {
            drop(state);
            // Woken by `wake_next` (or spuriously: the loop checks again).
            thread::park();
            state = lock(&self.state);
        }
        state.queue.retain(|q| q.number != number);
        state.taken = true;
        state.holder = Some(thread::current().id());
        Ok((state.conn.take(), state.open.take()))
    }

    /// Ends a turn with no transaction open: the connection (none if it was lost) goes
    /// back, and the turn to the next in line.
    pub(super) fn give_back(&self, conn: Option<Connection>) {
        let mut state = lock(&self.state);
        state.taken = false;
        state.holder = None;
        state.conn = conn;
        state.wake_next();
    }

    /// Write transactions waiting for the turn.
    pub(super) fn queued_writes(&self) -> usize {
        lock(&self.state).queue.iter().filter(|q| q.waiter == Waiter::Write).count()
    }

    /// Hands the open transaction of `group` to the next write transaction, if one waits
    /// (and no plain turn does, and the group is not full); otherwise gives both back
    /// (`Some`).
    pub(super) fn pass_on(&self, conn: Connection, group: OpenGroup) -> Option<(Connection, OpenGroup)> {
        let mut state = lock(&self.state);
        let next_writes = state.queue.front().is_some_and(|q| q.waiter == Waiter::Write);
        let plain_waits = state.queue.iter().any(|q| q.waiter == Waiter::Plain);
        if !next_writes || plain_waits || group.joined >= MAX_GROUP {
            return Some((conn, group));
        }
        state.taken = false;
        state.holder = None;
        state.conn = Some(conn);
        state.open = Some(group);
        state.wake_next();
        None
    }
}
