//! The host's clock: the one place the portal reads the time, so tests can set it.

use plugin_api::Timestamp;

/// The system time as a [`Timestamp`].
pub fn system_now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp(millis)
}
