//! A blocking PostgreSQL client for the storage layer, which runs on blocking threads:
//! `tokio-postgres`, with every connection's socket driven by one small runtime of its own
//! (a thread named `postgres-io`), and each call waited for by parking the calling thread.
//!
//! Why not the `postgres` crate: its client blocks on a runtime of its own at every call
//! and when it is dropped, which panics on a thread that drives async tasks (a web
//! server's, or a test's); here waiting needs no runtime, and dropping a client only closes
//! a channel.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake};
use tokio_postgres::types::{ToSql, Type};
pub use tokio_postgres::{Config, Error, Row, SimpleQueryMessage, Statement};

/// The runtime that drives the connections' sockets (made at the first connection).
fn io() -> Result<&'static tokio::runtime::Runtime, crate::db::DbError> {
    static IO: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres-io")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| crate::db::DbError::Postgres(format!("cannot start the PostgreSQL I/O thread: {e}")))
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread, parking it while the future waits.
fn wait<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

/// The answer to statements sent with the simple protocol.
pub type SimpleAnswer = Result<Vec<SimpleQueryMessage>, Error>;

/// A connection to PostgreSQL; every call blocks until the server answered.
pub struct PgClient {
    client: tokio_postgres::Client,
}

impl PgClient {
    /// Connects (TCP or a Unix socket, without TLS).
    pub fn connect(config: &Config) -> Result<PgClient, crate::db::DbError> {
        let config = config.clone();
        let io = io()?;
        let connected = wait(io.spawn(async move { config.connect(tokio_postgres::NoTls).await }));
        let (client, connection) = match connected {
            Ok(result) => result?,
            Err(join) => {
                return Err(crate::db::DbError::Postgres(format!("the connect task failed: {join}")));
            }
        };
        io.spawn(async move {
            if let Err(err) = connection.await {
                tracing::warn!(error = %err, "a PostgreSQL connection ended with an error");
            }
        });
        Ok(PgClient { client })
    }

    /// Runs statements without parameters (the simple protocol).
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        wait(self.client.batch_execute(sql))
    }

    /// Runs statements without parameters; their rows as text.
    pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        wait(self.client.simple_query(sql))
    }

    /// Prepares one statement, its parameters' types inferred by the server.
    pub fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        wait(self.client.prepare(sql))
    }

    /// Prepares one statement with its parameters' types given.
    pub fn prepare_typed(&self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        wait(self.client.prepare_typed(sql, types))
    }

    /// Every row of a prepared statement.
    pub fn query(&self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        wait(self.client.query(stmt, params))
    }

    /// Every row of a statement prepared for this call.
    pub fn query_text(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        wait(self.client.query(sql, params))
    }

    /// The rows of a prepared statement, one at a time (stop early: the rest is not read).
    pub fn query_iter(&self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<RowIter, Error> {
        let stream = wait(self.client.query_raw(stmt, params.iter().copied()))?;
        Ok(RowIter { stream: Box::pin(stream) })
    }

    /// Runs `first` (statements without parameters) and then a prepared statement in one
    /// round trip (pipelined); the rows as they arrive. Should `first` fail, its error is
    /// returned (the statement then ran in an aborted transaction, which refused it).
    pub fn query_iter_after(
        &self,
        first: &str,
        stmt: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<RowIter, Error> {
        let (first, stream) = wait(async {
            tokio::join!(
                self.client.batch_execute(first),
                self.client.query_raw(stmt, params.iter().copied())
            )
        });
        first?;
        Ok(RowIter { stream: Box::pin(stream?) })
    }

    /// Runs `first`, a prepared statement and then `then` (without parameters) in one
    /// round trip (pipelined): `first`'s error if it failed, else the rows the statement
    /// changed, and `then`'s answer.
    pub fn execute_between(
        &self,
        first: &str,
        stmt: &Statement,
        params: &[&(dyn ToSql + Sync)],
        then: Option<&str>,
    ) -> Result<(u64, Option<SimpleAnswer>), Error> {
        let (first, changed, then) = wait(async {
            let then = async {
                match then {
                    Some(sql) => Some(self.client.simple_query(sql).await),
                    None => None,
                }
            };
            tokio::join!(self.client.batch_execute(first), self.client.execute(stmt, params), then)
        });
        first?;
        Ok((changed?, then))
    }

    /// Runs a statement prepared for this call; the rows it changed.
    pub fn execute_text(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        wait(self.client.execute(sql, params))
    }

    /// Runs a prepared statement; the rows it changed.
    pub fn execute(&self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        wait(self.client.execute(stmt, params))
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// What a listening connection hears.
#[derive(Debug)]
pub enum Heard {
    /// A notification's payload.
    Payload(String),
    /// The connection was lost and listens again: notifications sent meanwhile are lost.
    Back,
}

/// Listens on `channel` on a connection of its own, handing every notification to `on`
/// (on the I/O thread: `on` must return at once), until `stop`'s sender is dropped. A lost
/// connection is opened again a second later, and `on` hears [`Heard::Back`]. Returns once
/// the first `LISTEN` is in place.
pub fn listen(
    config: &Config,
    channel: &'static str,
    mut stop: tokio::sync::watch::Receiver<()>,
    on: Box<dyn Fn(Heard) + Send + Sync>,
) -> Result<(), crate::db::DbError> {
    let io = io()?;
    let config = config.clone();
    let (started, first) = std::sync::mpsc::channel::<Result<(), String>>();
    io.spawn(async move {
        let mut started = Some(started);
        loop {
            let session = listen_once(&config, channel, on.as_ref(), &mut started);
            let ended = tokio::select! {
                _ = stop.changed() => return,
                ended = session => ended,
            };
            if let Err(err) = ended {
                match started.take() {
                    Some(started) => {
                        let _ = started.send(Err(err.to_string()));
                        return;
                    }
                    None => tracing::warn!(error = %err, "the PostgreSQL listening connection was lost; listening again in a second"),
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    });
    match first.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => {
            Err(crate::db::DbError::Postgres(format!("cannot listen for other processes' commits: {err}")))
        }
        Err(_) => Err(crate::db::DbError::Postgres("the listening task ended before it listened".into())),
    }
}

/// One listening connection, until it is lost. `started` hears the first `LISTEN`; a
/// later session tells `on` it is [`Heard::Back`].
async fn listen_once(
    config: &Config,
    channel: &str,
    on: &(dyn Fn(Heard) + Send + Sync),
    started: &mut Option<std::sync::mpsc::Sender<Result<(), String>>>,
) -> Result<(), Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (heard, mut payloads) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    if heard.send(n.payload().to_owned()).is_err() {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    match started.take() {
        Some(started) => {
            let _ = started.send(Ok(()));
        }
        None => on(Heard::Back),
    }
    while let Some(payload) = payloads.recv().await {
        on(Heard::Payload(payload));
    }
    drop(client);
    match driver.await {
        Ok(Err(err)) => Err(err),
        _ => Ok(()),
    }
}

/// Rows as they arrive.
pub struct RowIter {
    stream: std::pin::Pin<Box<tokio_postgres::RowStream>>,
}

impl RowIter {
    /// The next row, if any.
    pub fn next(&mut self) -> Result<Option<Row>, Error> {
        use futures_util::Stream;
        wait(std::future::poll_fn(|cx| self.stream.as_mut().poll_next(cx))).transpose()
    }
}
