//! The pure rules of Conversations (no host calls), so they unit-test natively: message
//! length after trimming, how many participants a conversation may have, the canonical key
//! of a participant set (the same set of people is always the same conversation), who may
//! send, and how message text becomes safe links.

use plugin_api::{ActorRef, GroupId, UserId};
use std::collections::BTreeSet;

/// Why a message body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Nothing but whitespace.
    Empty,
    /// More characters than the community allows.
    TooLong {
        /// Characters after trimming.
        chars: usize,
        /// The limit.
        max: usize,
    },
}

impl BodyError {
    /// The message shown to the participant.
    pub fn message(&self) -> String {
        match self {
            BodyError::Empty => "Write a message before sending.".to_owned(),
            BodyError::TooLong { chars, max } => {
                format!("Messages can be at most {max} characters; this one has {chars}.")
            }
        }
    }
}

/// Bidirectional embedding, override and isolate controls: they can make text display in
/// a different order than it is stored ("moc.evil" shown for "live.com"), and have no use
/// in a chat message that the natural direction of the letters does not cover.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no space: a message of only these (and whitespace) is empty.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

/// Cleans and checks a message body: drops bidi controls and control characters other than
/// newlines and tabs (`\r\n` becomes `\n`), trims it, and checks it has 1 to `max`
/// characters (Unicode scalar values, not bytes). Joiners inside emoji and words stay.
pub fn validate_body(body: &str, max: usize) -> Result<String, BodyError> {
    let cleaned: String = body
        .chars()
        .filter(|&c| !is_bidi_control(c) && (!c.is_control() || c == '\n' || c == '\t'))
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(BodyError::Empty);
    }
    let chars = trimmed.chars().count();
    if chars > max {
        return Err(BodyError::TooLong { chars, max });
    }
    Ok(trimmed.to_owned())
}

/// Parses `user:7` or `group:3`.
pub fn parse_actor(text: &str) -> Option<ActorRef> {
    let (kind, id) = text.trim().split_once(':')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    match kind {
        "user" => Some(ActorRef::User(UserId(id))),
        "group" => Some(ActorRef::Group(GroupId(id))),
        _ => None,
    }
}

/// Writes an actor as `user:7` or `group:3`.
pub fn actor_text(actor: ActorRef) -> String {
    match actor {
        ActorRef::User(id) => format!("user:{id}"),
        ActorRef::Group(id) => format!("group:{id}"),
    }
}

/// The canonical key of a participant set: sorted, deduplicated, starter included. Two
/// conversations with the same people have the same key; the database keeps it unique.
pub fn participant_key(participants: &BTreeSet<ActorRef>) -> String {
    participants.iter().map(|a| actor_text(*a)).collect::<Vec<_>>().join(",")
}

/// Why a set of recipients was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientsError {
    /// Nobody was chosen (or only oneself).
    None,
    /// More than the community allows.
    TooMany {
        /// How many were chosen.
        chosen: usize,
        /// The limit.
        max: usize,
    },
}

impl RecipientsError {
    /// The message shown to the participant.
    pub fn message(&self) -> String {
        match self {
            RecipientsError::None => "Choose at least one person or group to write to.".to_owned(),
            RecipientsError::TooMany { chosen, max } => {
                format!("A conversation can have at most {max} participants besides you; you chose {chosen}.")
            }
        }
    }
}

/// The full participant set: `starter` plus the distinct `recipients` other than the
/// starter, at most `max_others` of them.
pub fn participants(
    starter: ActorRef,
    recipients: &[ActorRef],
    max_others: usize,
) -> Result<BTreeSet<ActorRef>, RecipientsError> {
    let others: BTreeSet<ActorRef> = recipients.iter().copied().filter(|r| *r != starter).collect();
    if others.is_empty() {
        return Err(RecipientsError::None);
    }
    if others.len() > max_others {
        return Err(RecipientsError::TooMany { chosen: others.len(), max: max_others });
    }
    let mut all = others;
    all.insert(starter);
    Ok(all)
}

/// Where a participant stands in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantState {
    /// Started it, or accepted the invitation (or no acceptance was required).
    Active,
    /// Invited; has not answered yet.
    Invited,
    /// Declined the invitation: final.
    Declined,
    /// Left the conversation.
    Left,
    /// Not reached yet: another participant of a new conversation whose messages are all
    /// held for review (or were rejected). The conversation does not exist for them until
    /// one of its messages is delivered; then they are invited (or active).
    Pending,
}

impl ParticipantState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantState::Active => "active",
            ParticipantState::Invited => "invited",
            ParticipantState::Declined => "declined",
            ParticipantState::Left => "left",
            ParticipantState::Pending => "pending",
        }
    }

    /// How the state reads beside a participant's name on the conversation page.
    pub fn label(self) -> &'static str {
        match self {
            ParticipantState::Pending => "not reached yet",
            other => other.as_str(),
        }
    }

    /// Whether the conversation exists for this participant: they may open it (everyone
    /// but those who left and those it has not reached yet).
    pub fn can_open(self) -> bool {
        !matches!(self, ParticipantState::Left | ParticipantState::Pending)
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<ParticipantState> {
        match text {
            "active" => Some(ParticipantState::Active),
            "invited" => Some(ParticipantState::Invited),
            "declined" => Some(ParticipantState::Declined),
            "left" => Some(ParticipantState::Left),
            "pending" => Some(ParticipantState::Pending),
            _ => None,
        }
    }
}

/// Why sending is not possible now, if it is not.
pub fn send_refusal(me: ParticipantState, others: &[ParticipantState]) -> Option<&'static str> {
    match me {
        ParticipantState::Invited => return Some("Accept the invitation to reply."),
        ParticipantState::Declined => return Some("You declined this conversation."),
        ParticipantState::Left => return Some("You left this conversation."),
        ParticipantState::Pending => return Some("This conversation has not reached you yet."),
        ParticipantState::Active => {}
    }
    if others.contains(&ParticipantState::Invited) && !others.contains(&ParticipantState::Active) {
        return Some("You can write again once someone accepts the invitation.");
    }
    if others.iter().all(|s| matches!(s, ParticipantState::Declined | ParticipantState::Left)) {
        return Some("Nobody else is left in this conversation.");
    }
    None
}

/// Where a message stands: delivered, or stopped by a plugin that checked it
/// (`conversations.check_message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Delivered to the participants.
    Visible,
    /// Stored, but shown to nobody except its author until it is released.
    Held,
    /// Never delivered: shown to its author only.
    Rejected,
    /// Delivered, then taken down: its author sees it, the others see that it was removed.
    Removed,
}

impl MessageState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Visible => "visible",
            MessageState::Held => "held",
            MessageState::Rejected => "rejected",
            MessageState::Removed => "removed",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<MessageState> {
        match text {
            "visible" => Some(MessageState::Visible),
            "held" => Some(MessageState::Held),
            "rejected" => Some(MessageState::Rejected),
            "removed" => Some(MessageState::Removed),
            _ => None,
        }
    }
}

/// A piece of message text: plain, or a link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    /// The text shown (escaped by the host).
    pub text: String,
    /// The link target, for a link: always `http://` or `https://`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

/// Splits plain text into text and `http(s)://` links. Trailing punctuation stays out of a
/// link; nothing else ever becomes a link.
pub fn linkify(text: &str) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(start) = find_url(rest) {
        plain.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| {
                c.is_whitespace()
                    || c.is_control()
                    || is_invisible(c)
                    || is_bidi_control(c)
                    || "<>\"".contains(c)
            })
            .unwrap_or(candidate.len());
        let mut url = &candidate[..end];
        while let Some(last) = url.chars().last().filter(|c| ".,;:!?)]}'".contains(*c)) {
            url = &url[..url.len() - last.len_utf8()];
        }
        let scheme_len = if url.starts_with("https://") { 8 } else { 7 };
        if url.len() <= scheme_len {
            plain.push_str(&candidate[..scheme_len]);
            rest = &candidate[scheme_len..];
            continue;
        }
        if !plain.is_empty() {
            out.push(Segment { text: std::mem::take(&mut plain), href: None });
        }
        out.push(Segment { text: url.to_owned(), href: Some(url.to_owned()) });
        rest = &candidate[url.len()..];
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        out.push(Segment { text: plain, href: None });
    }
    out
}

fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    match (lower.find("https://"), lower.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The first 100 characters of a message, on one line.
pub fn preview(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 100 {
        format!("{}…", line.chars().take(99).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_trimmed_and_counted_in_characters() {
        assert_eq!(validate_body("  hi  ", 1000), Ok("hi".to_owned()));
        assert_eq!(validate_body(" \n\t ", 1000), Err(BodyError::Empty));
        assert_eq!(validate_body("", 1000), Err(BodyError::Empty));
        let thousand = "é".repeat(1000);
        assert!(validate_body(&format!("  {thousand}  "), 1000).is_ok());
        let too_long = "😀".repeat(1001);
        assert_eq!(validate_body(&too_long, 1000), Err(BodyError::TooLong { chars: 1001, max: 1000 }));
        assert_eq!(validate_body("x", 1), Ok("x".to_owned()));
        // Bidi controls and stray control characters go; joiners inside emoji stay.
        assert_eq!(validate_body("a\u{202E}b\u{2066}c\u{0}d\r\ne", 1000), Ok("abcd\ne".to_owned()));
        assert_eq!(validate_body("\u{200B}\u{FEFF} \u{200D}", 1000), Err(BodyError::Empty));
        let family = "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(validate_body(family, 5), Ok(family.to_owned()));
        assert_eq!(validate_body(&"\u{1F600}".repeat(1000), 1000).map(|b| b.len()), Ok(4000));
    }

    #[test]
    fn actors_parse_and_print() {
        assert_eq!(parse_actor("user:7"), Some(ActorRef::User(UserId(7))));
        assert_eq!(parse_actor(" group:3 "), Some(ActorRef::Group(GroupId(3))));
        for bad in ["user:", "user:-1", "user:0", "admin:1", "7", ""] {
            assert_eq!(parse_actor(bad), None, "{bad}");
        }
        assert_eq!(actor_text(ActorRef::Group(GroupId(3))), "group:3");
    }

    fn users(ids: &[i64]) -> Vec<ActorRef> {
        ids.iter().map(|id| ActorRef::User(UserId(*id))).collect()
    }

    #[test]
    fn the_same_people_make_the_same_key_in_any_order() {
        let me = ActorRef::User(UserId(1));
        let a = participants(me, &users(&[3, 2, 2]), 9).unwrap();
        let b = participants(me, &users(&[2, 3, 1]), 9).unwrap();
        assert_eq!(participant_key(&a), participant_key(&b));
        assert_eq!(participant_key(&a), "user:1,user:2,user:3");
    }

    #[test]
    fn nine_others_at_most() {
        let me = ActorRef::User(UserId(100));
        assert!(participants(me, &users(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), 9).is_ok());
        assert_eq!(
            participants(me, &users(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 9),
            Err(RecipientsError::TooMany { chosen: 10, max: 9 })
        );
        assert_eq!(participants(me, &[me], 9), Err(RecipientsError::None));
        assert_eq!(participants(me, &[], 9), Err(RecipientsError::None));
    }

    #[test]
    fn who_may_send() {
        use ParticipantState::*;
        assert_eq!(send_refusal(Active, &[Active]), None);
        assert_eq!(
            send_refusal(Active, &[Invited]),
            Some("You can write again once someone accepts the invitation.")
        );
        assert_eq!(send_refusal(Active, &[Invited, Active]), None);
        assert_eq!(send_refusal(Invited, &[Active]), Some("Accept the invitation to reply."));
        assert_eq!(send_refusal(Active, &[Declined]), Some("Nobody else is left in this conversation."));
        assert_eq!(send_refusal(Left, &[Active]), Some("You left this conversation."));
        // The author of a conversation that has not reached the others yet may write again
        // (each message is checked on its own); the others cannot open it at all.
        assert_eq!(send_refusal(Active, &[Pending, Pending]), None);
        assert!(!Pending.can_open() && !Left.can_open() && Invited.can_open() && Declined.can_open());
        for state in [Active, Invited, Declined, Left, Pending] {
            assert_eq!(ParticipantState::parse(state.as_str()), Some(state));
        }
        for state in
            [MessageState::Visible, MessageState::Held, MessageState::Rejected, MessageState::Removed]
        {
            assert_eq!(MessageState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn links_are_made_only_from_http_urls() {
        let s = linkify("see https://example.org/a?b=1, and http://x.y. javascript:alert(1) <b>");
        assert_eq!(
            s,
            vec![
                Segment { text: "see ".into(), href: None },
                Segment {
                    text: "https://example.org/a?b=1".into(),
                    href: Some("https://example.org/a?b=1".into())
                },
                Segment { text: ", and ".into(), href: None },
                Segment { text: "http://x.y".into(), href: Some("http://x.y".into()) },
                Segment { text: ". javascript:alert(1) <b>".into(), href: None },
            ]
        );
        assert_eq!(linkify("https://"), vec![Segment { text: "https://".into(), href: None }]);
        assert_eq!(linkify(""), vec![]);
        assert_eq!(
            linkify("héllo 😀 https://ü.example/😀"),
            vec![
                Segment { text: "héllo 😀 ".into(), href: None },
                Segment {
                    text: "https://ü.example/😀".into(), href: Some("https://ü.example/😀".into())
                },
            ]
        );
        // A link ends at an invisible or direction-changing character.
        let s = linkify("https://bank.example\u{200B}.evil.example and https://a.example\u{202E}lmth");
        assert_eq!(s[0].href.as_deref(), Some("https://bank.example"));
        assert_eq!(s[2].href.as_deref(), Some("https://a.example"));
    }
}
