//! Plugins extending plugins: the queue of event deliveries, the checks plugins asked
//! for, and the holds their implementers placed (see `plugin_api::extension`).

use super::DbResult;
use super::sql::{Conn, Dialect, Row};
use plugin_api::{CheckId, CommunityId, Timestamp};

/// One event waiting for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The delivery's id (increasing in the order of the events).
    pub id: i64,
    /// The community.
    pub community: CommunityId,
    /// The plugin that receives it.
    pub subscriber: String,
    /// The plugin that emitted it, or `portal`.
    pub source: String,
    /// The event's full name.
    pub event: String,
    /// The payload, JSON.
    pub payload: String,
    /// When it was emitted.
    pub created_at: Timestamp,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A delivery from the first eight columns of a row: id, community_id, subscriber, source,
/// event, payload, created_at, attempts.
fn pending_of(r: &Row<'_>) -> DbResult<Pending> {
    Ok(Pending {
        id: r.get(0)?,
        community: CommunityId(r.get(1)?),
        subscriber: r.get(2)?,
        source: r.get(3)?,
        event: r.get(4)?,
        payload: r.get(5)?,
        created_at: Timestamp(r.get(6)?),
        attempts: r.get(7)?,
    })
}

/// A delivery to queue.
pub struct NewDelivery<'a> {
    /// The community.
    pub community: CommunityId,
    /// The plugin that receives it.
    pub subscriber: &'a str,
    /// The plugin that emitted it, or `portal`.
    pub source: &'a str,
    /// The event's full name.
    pub event: &'a str,
    /// The payload, JSON.
    pub payload: &'a str,
}

/// Queues one delivery, due at once.
pub fn queue(conn: &Conn, delivery: &NewDelivery<'_>, now: Timestamp) -> DbResult<()> {
    conn.execute(
        "INSERT INTO event_deliveries (community_id, subscriber, source, event, payload, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        &[
            &delivery.community.0,
            &delivery.subscriber,
            &delivery.source,
            &delivery.event,
            &delivery.payload,
            &now.0,
        ],
    )?;
    Ok(())
}

/// The queues that have deliveries waiting: (subscriber, community), from the queue index.
pub fn queues(conn: &Conn) -> DbResult<Vec<(String, CommunityId)>> {
    conn.query_all("SELECT DISTINCT subscriber, community_id FROM event_deliveries ORDER BY 1, 2", &[], |r| {
        Ok((r.get(0)?, CommunityId(r.get(1)?)))
    })
}

/// The next `limit` deliveries of one queue, oldest first, with when each may be tried.
pub fn next_of(
    conn: &Conn,
    subscriber: &str,
    community: CommunityId,
    limit: u32,
) -> DbResult<Vec<(Pending, Timestamp)>> {
    conn.query_all(
        "SELECT id, community_id, subscriber, source, event, payload, created_at, attempts, next_attempt_at
         FROM event_deliveries WHERE subscriber = ?1 AND community_id = ?2 ORDER BY id LIMIT ?3",
        &[&subscriber, &community.0, &limit],
        |r| Ok((pending_of(r)?, Timestamp(r.get(8)?))),
    )
}

/// Takes delivery `id` for the call whose write transaction `conn` is in: false when it is
/// gone or another process is delivering it now (on PostgreSQL the row stays locked by
/// this transaction until it ends, and a second deliverer skips it; SQLite's one writer
/// already runs one delivery at a time).
pub fn claim(conn: &Conn, id: i64) -> DbResult<bool> {
    const CLAIM: Dialect = Dialect {
        sqlite: "SELECT id FROM event_deliveries WHERE id = ?1",
        postgres: "SELECT id FROM event_deliveries WHERE id = ?1 FOR UPDATE SKIP LOCKED",
    };
    Ok(conn.query_opt(CLAIM.text(conn.engine()), &[&id], |r| r.get::<i64>(0))?.is_some())
}

/// Removes a delivery the subscriber acknowledged (in the subscriber's transaction);
/// whether it was still there (another process may have delivered it).
pub fn delivered(conn: &Conn, id: i64) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM event_deliveries WHERE id = ?1", &[&id])? == 1)
}

/// Records a failed attempt: the delivery waits until `next_attempt_at`.
pub fn failed(conn: &Conn, id: i64, error: &str, next_attempt_at: Timestamp) -> DbResult<()> {
    conn.execute(
        "UPDATE event_deliveries SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
        &[&id, &error, &next_attempt_at.0],
    )?;
    Ok(())
}

/// The queue of one subscriber, for `portal plugin status`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueStatus {
    /// Deliveries waiting.
    pub waiting: i64,
    /// Of those, deliveries that failed at least once.
    pub failing: i64,
    /// When the oldest waiting event was emitted.
    pub oldest: Option<Timestamp>,
    /// The delivery with the most attempts: its id, attempts, event and last error.
    pub worst: Option<(i64, u32, String, String)>,
}

/// The queue of `subscriber`: in `community`, or in every community (`None`).
pub fn queue_status(conn: &Conn, subscriber: &str, community: Option<CommunityId>) -> DbResult<QueueStatus> {
    let community = community.map(|c| c.0);
    let (waiting, failing, oldest) = conn.query_one(
        "SELECT count(*), count(*) FILTER (WHERE attempts > 0), min(created_at)
         FROM event_deliveries WHERE subscriber = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR community_id = ?2)",
        &[&subscriber, &community],
        |r| Ok((r.get(0)?, r.get(1)?, r.get::<Option<i64>>(2)?)),
    )?;
    let worst = conn.query_opt(
        "SELECT id, attempts, event, coalesce(last_error, '') FROM event_deliveries
         WHERE subscriber = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR community_id = ?2) AND attempts > 0
         ORDER BY attempts DESC, id LIMIT 1",
        &[&subscriber, &community],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    Ok(QueueStatus { waiting, failing, oldest: oldest.map(Timestamp), worst })
}

/// Records a check `point` asked in `community` of the implementers `asked`; its id
/// (never reused).
pub fn new_check(
    conn: &Conn,
    community: CommunityId,
    point: &str,
    asked: &[&str],
    now: Timestamp,
) -> DbResult<CheckId> {
    conn.query_one(
        "INSERT INTO extension_checks (community_id, point, created_at, asked) VALUES (?1, ?2, ?3, ?4)
         RETURNING id",
        &[&community.0, &point, &now.0, &asked.join("\n")],
        |r| Ok(CheckId(r.get(0)?)),
    )
}

/// Where a check, or one implementer's hold on it, stands once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Released (a check: by every holder).
    Released,
    /// Rejected (a check: by one of its implementers).
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Released => "released",
            Outcome::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Option<Outcome> {
        match text {
            "released" => Some(Outcome::Released),
            "rejected" => Some(Outcome::Rejected),
            _ => None,
        }
    }
}

/// One implementer's hold on a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    /// Still held.
    Held,
    /// Decided.
    Decided(Outcome),
}

/// A check as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The check point.
    pub point: String,
    /// `None` while open.
    pub resolution: Option<Outcome>,
    /// The implementers that were asked.
    pub asked: Vec<String>,
}

/// The check `id` of `community`, if there is one.
pub fn check(conn: &Conn, community: CommunityId, id: CheckId) -> DbResult<Option<Check>> {
    conn.query_opt(
        "SELECT point, resolution, asked FROM extension_checks WHERE id = ?1 AND community_id = ?2",
        &[&id.0, &community.0],
        |r| {
            let asked: String = r.get(2)?;
            let resolution: Option<String> = r.get(1)?;
            Ok(Check {
                point: r.get(0)?,
                resolution: resolution.as_deref().and_then(Outcome::parse),
                asked: asked.lines().map(str::to_owned).collect(),
            })
        },
    )
}

/// Marks check `id` released or rejected.
pub fn resolve_check(conn: &Conn, id: CheckId, resolution: Outcome) -> DbResult<()> {
    conn.execute(
        "UPDATE extension_checks SET resolution = ?2 WHERE id = ?1",
        &[&id.0, &resolution.as_str()],
    )?;
    Ok(())
}

/// Records that `plugin` holds check `id`.
pub fn hold(conn: &Conn, id: CheckId, plugin: &str, reason: &str) -> DbResult<()> {
    conn.execute(
        "INSERT INTO extension_holds (check_id, plugin, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT (check_id, plugin) DO UPDATE SET reason = excluded.reason, state = 'held'",
        &[&id.0, &plugin, &reason],
    )?;
    Ok(())
}

/// The state of `plugin`'s hold on check `id`, if it holds or held it.
pub fn hold_state(conn: &Conn, id: CheckId, plugin: &str) -> DbResult<Option<HoldState>> {
    let state: Option<String> = conn.query_opt(
        "SELECT state FROM extension_holds WHERE check_id = ?1 AND plugin = ?2",
        &[&id.0, &plugin],
        |r| r.get(0),
    )?;
    Ok(state.map(|s| Outcome::parse(&s).map_or(HoldState::Held, HoldState::Decided)))
}

/// Records `plugin`'s decision on its hold of check `id`; how many holds on it are still
/// held.
pub fn decide_hold(conn: &Conn, id: CheckId, plugin: &str, outcome: Outcome) -> DbResult<i64> {
    conn.execute(
        "UPDATE extension_holds SET state = ?3 WHERE check_id = ?1 AND plugin = ?2",
        &[&id.0, &plugin, &outcome.as_str()],
    )?;
    conn.query_one(
        "SELECT count(*) FROM extension_holds WHERE check_id = ?1 AND state = 'held'",
        &[&id.0],
        |r| r.get(0),
    )
}

/// The plugins that held check `id` (whatever they decided since).
pub fn holders(conn: &Conn, id: CheckId) -> DbResult<Vec<String>> {
    conn.query_all("SELECT plugin FROM extension_holds WHERE check_id = ?1 ORDER BY plugin", &[&id.0], |r| {
        r.get(0)
    })
}

/// A savepoint inside the call's transaction: around one whole check (`extension_checks`,
/// undone when the check refuses) and around each implementer (`extension_check`, undone
/// when the implementer fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Savepoint {
    /// The whole check: the check's row, every implementer's writes and holds.
    Check,
    /// One implementer's writes.
    Implementer,
}

impl Savepoint {
    /// Its `SAVEPOINT`, `ROLLBACK TO` and `RELEASE` statements (the same for both engines).
    fn statements(self) -> [&'static str; 3] {
        match self {
            Savepoint::Check => {
                ["SAVEPOINT extension_checks", "ROLLBACK TO extension_checks", "RELEASE extension_checks"]
            }
            Savepoint::Implementer => {
                ["SAVEPOINT extension_check", "ROLLBACK TO extension_check", "RELEASE extension_check"]
            }
        }
    }
}

/// Opens `savepoint`.
pub fn savepoint(conn: &Conn, savepoint: Savepoint) -> DbResult<()> {
    conn.execute(savepoint.statements()[0], &[])?;
    Ok(())
}

/// Keeps what was written since `savepoint` (`keep`) or undoes it, and closes it.
pub fn end_savepoint(conn: &Conn, savepoint: Savepoint, keep: bool) -> DbResult<()> {
    let [_, rollback, release] = savepoint.statements();
    if !keep {
        conn.execute(rollback, &[])?;
    }
    conn.execute(release, &[])?;
    Ok(())
}

/// Removes one delivery by hand (`portal events drop`): what it was, if it existed.
pub fn drop_delivery(conn: &Conn, id: i64) -> DbResult<Option<Pending>> {
    let found = conn.query_opt(
        "SELECT id, community_id, subscriber, source, event, payload, created_at, attempts
         FROM event_deliveries WHERE id = ?1",
        &[&id],
        pending_of,
    )?;
    conn.execute("DELETE FROM event_deliveries WHERE id = ?1", &[&id])?;
    Ok(found)
}
