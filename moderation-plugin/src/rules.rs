//! The moderation rules, pure: a community's rules as a value, the verdict they give a
//! message (blocked words on whole words, links from new members), the rules form's
//! validation, who may report a message, and which decision fits which queue entry. No
//! host calls; everything here is unit-tested.

use plugin_api::extension::MAX_REASON_CHARS;
use plugin_api::{Decision, Timestamp, UserId, Verdict};

/// Most blocked words or phrases a community may list.
pub const MAX_WORDS: usize = 200;
/// Longest blocked word or phrase, in characters.
pub const MAX_WORD_CHARS: usize = 100;
/// "Hold links from members who joined less than N days ago": N when a community never
/// saved its rules.
pub const DEFAULT_NEW_MEMBER_DAYS: i64 = 7;
/// Largest N the rules form accepts.
pub const MAX_NEW_MEMBER_DAYS: i64 = 365;
/// Longest reason a reporter may give, in characters.
pub const MAX_REPORT_REASON_CHARS: usize = 500;

const DAY_MS: i64 = 86_400_000;

/// What a blocked word does to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordAction {
    /// The message is not stored; the author is told why and keeps the text.
    Refuse,
    /// The message is stored but reaches nobody until a moderator releases it.
    Hold,
}

impl WordAction {
    /// The stored and form value.
    pub fn as_str(self) -> &'static str {
        match self {
            WordAction::Refuse => "refuse",
            WordAction::Hold => "hold",
        }
    }

    /// Parses a stored or form value.
    pub fn parse(text: &str) -> Option<WordAction> {
        match text {
            "refuse" => Some(WordAction::Refuse),
            "hold" => Some(WordAction::Hold),
            _ => None,
        }
    }
}

/// One community's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Blocked words and phrases, as the moderators wrote them (trimmed, inner spaces
    /// collapsed, no duplicates).
    pub words: Vec<String>,
    /// What a blocked word does.
    pub word_action: WordAction,
    /// Hold messages with links from members who joined less than this many days ago
    /// (0: off).
    pub new_member_days: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { words: Vec::new(), word_action: WordAction::Refuse, new_member_days: DEFAULT_NEW_MEMBER_DAYS }
    }
}

impl Rules {
    /// Rules from their stored columns (words one per line). Lenient: an unknown action
    /// refuses, a negative N is off.
    pub fn from_stored(words: &str, action: &str, new_member_days: i64) -> Rules {
        Rules {
            words: words.lines().map(tidy).filter(|w| !w.is_empty()).collect(),
            word_action: WordAction::parse(action).unwrap_or(WordAction::Refuse),
            new_member_days: new_member_days.max(0),
        }
    }

    /// The words as stored and shown in the form: one per line.
    pub fn words_text(&self) -> String {
        self.words.join("\n")
    }
}

/// Trims `text` and collapses every run of whitespace inside it to one space.
fn tidy(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the matching compares: lowercase, whitespace collapsed.
fn fold(text: &str) -> String {
    tidy(&text.to_lowercase())
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `needle` occurs in `haystack` (both folded) as a whole word: no letter, digit
/// or `_` touches it on a side where it starts or ends with one.
fn contains_whole(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let open_start = needle.starts_with(is_word_char);
    let open_end = needle.ends_with(is_word_char);
    let mut from = 0;
    while let Some(found) = haystack[from..].find(needle) {
        let at = from + found;
        let end = at + needle.len();
        let before_ok = !open_start || !haystack[..at].chars().next_back().is_some_and(is_word_char);
        let after_ok = !open_end || !haystack[end..].chars().next().is_some_and(is_word_char);
        if before_ok && after_ok {
            return true;
        }
        from = at + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The first of the rules' blocked words (as the rules write it) that `text` contains as
/// a whole word, ignoring case.
pub fn blocked_word<'r>(rules: &'r Rules, text: &str) -> Option<&'r str> {
    if rules.words.is_empty() {
        return None;
    }
    let folded = fold(text);
    rules.words.iter().find(|word| contains_whole(&folded, &fold(word))).map(String::as_str)
}

/// Whether `text` holds a link: `http://`, `https://`, or a word starting with `www.`.
pub fn has_link(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("http://") || lower.contains("https://") || contains_whole(&lower, "www.")
}

/// Whether a member who joined at `joined` is, at `now`, newer than `days` days. An
/// unknown join date (a host without it, or someone the directory does not know) is not
/// new; `days` 0 is off.
pub fn is_new_member(joined: Option<Timestamp>, now: Timestamp, days: i64) -> bool {
    if days <= 0 {
        return false;
    }
    joined.is_some_and(|j| now.0.saturating_sub(j.0) < days.saturating_mul(DAY_MS))
}

fn days_text(days: i64) -> String {
    if days == 1 { "1 day".to_owned() } else { format!("{days} days") }
}

/// Cuts `text` to the longest reason the ABI carries.
pub fn cut_reason(text: &str) -> String {
    text.chars().take(MAX_REASON_CHARS).collect()
}

/// The verdict of `rules` on a message with `text`. `joined` gives the author's join date;
/// it is asked only when the link rule has to know it (the text has a link and the rule is
/// on, and no blocked word decided first), so a message without links costs no look-up.
pub fn verdict<E>(
    rules: &Rules,
    text: &str,
    now: Timestamp,
    joined: impl FnOnce() -> Result<Option<Timestamp>, E>,
) -> Result<Verdict, E> {
    if let Some(word) = blocked_word(rules, text) {
        return Ok(match rules.word_action {
            WordAction::Refuse => Verdict::Refuse {
                reason: cut_reason(&format!(
                    "Your message contains “{word}”, which this community does not allow."
                )),
            },
            WordAction::Hold => Verdict::Hold {
                reason: cut_reason(&format!(
                    "Your message contains “{word}”, so a moderator will review it before anyone else can read it."
                )),
            },
        });
    }
    if rules.new_member_days > 0 && has_link(text) && is_new_member(joined()?, now, rules.new_member_days) {
        return Ok(Verdict::Hold {
            reason: format!(
                "Links from members who joined less than {} ago are reviewed by a moderator before anyone else can read them.",
                days_text(rules.new_member_days)
            ),
        });
    }
    Ok(Verdict::Allow)
}

/// What the rules form sent: the raw text of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesForm<'a> {
    /// The textarea: one word or phrase per line.
    pub words: &'a str,
    /// `refuse` or `hold`.
    pub word_action: Option<&'a str>,
    /// N, in days.
    pub new_member_days: &'a str,
}

/// Validates the rules form: the rules, or every problem in one sentence each.
pub fn parse_rules_form(form: RulesForm<'_>) -> Result<Rules, Vec<String>> {
    let mut errors = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for line in form.words.lines() {
        let word = tidy(line);
        if word.is_empty() {
            continue;
        }
        if word.chars().count() > MAX_WORD_CHARS {
            let start: String = word.chars().take(20).collect();
            errors.push(format!("“{start}…” is longer than {MAX_WORD_CHARS} characters."));
            continue;
        }
        let folded = fold(&word);
        if !seen.contains(&folded) {
            seen.push(folded);
            words.push(word);
        }
    }
    if words.len() > MAX_WORDS {
        errors.push(format!("List at most {MAX_WORDS} blocked words or phrases; there are {}.", words.len()));
    }
    let word_action = form.word_action.and_then(WordAction::parse);
    if word_action.is_none() {
        errors.push("Choose what a blocked word does: refuse or hold the message.".to_owned());
    }
    let days =
        form.new_member_days.trim().parse::<i64>().ok().filter(|d| (0..=MAX_NEW_MEMBER_DAYS).contains(d));
    if days.is_none() {
        errors
            .push(format!("Enter a whole number of days from 0 to {MAX_NEW_MEMBER_DAYS} (0 turns it off)."));
    }
    match (word_action, days) {
        (Some(word_action), Some(new_member_days)) if errors.is_empty() => {
            Ok(Rules { words, word_action, new_member_days })
        }
        _ => Err(errors),
    }
}

/// Why a member may not report a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportRefusal {
    /// They cannot read it (or it does not exist): "not found", so nothing leaks.
    NotFound,
    /// It is their own message.
    OwnMessage,
}

impl ReportRefusal {
    /// The sentence for the member (for [`ReportRefusal::OwnMessage`]).
    pub fn message(self) -> &'static str {
        match self {
            ReportRefusal::NotFound => "Not found",
            ReportRefusal::OwnMessage => "This is your own message: you cannot report it.",
        }
    }
}

/// Whether `viewer` may report a message by `author` that `readers` can read.
pub fn may_report(viewer: UserId, author: UserId, readers: &[UserId]) -> Result<(), ReportRefusal> {
    if viewer == author {
        return Err(ReportRefusal::OwnMessage);
    }
    if readers.contains(&viewer) { Ok(()) } else { Err(ReportRefusal::NotFound) }
}

/// A reporter's reason, trimmed: required, at most [`MAX_REPORT_REASON_CHARS`].
pub fn validate_report_reason(text: &str) -> Result<String, String> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err("Say in a few words what is wrong with this message.".to_owned());
    }
    let chars = reason.chars().count();
    if chars > MAX_REPORT_REASON_CHARS {
        return Err(format!("Keep the reason to {MAX_REPORT_REASON_CHARS} characters; it has {chars}."));
    }
    Ok(reason.to_owned())
}

/// What a queue entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A message the check held.
    Held,
    /// A member's report of a delivered message.
    Report,
}

impl EntryKind {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Held => "held",
            EntryKind::Report => "report",
        }
    }

    /// Parses a stored value.
    pub fn parse(text: &str) -> Option<EntryKind> {
        match text {
            "held" => Some(EntryKind::Held),
            "report" => Some(EntryKind::Report),
            _ => None,
        }
    }
}

/// A moderator's decision on a queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    /// Held: deliver it.
    Release,
    /// Held: never deliver it.
    Reject,
    /// Report: leave the message up.
    Dismiss,
    /// Report: take the message down.
    TakeDown,
}

impl DecisionKind {
    /// The stored and form value.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Release => "release",
            DecisionKind::Reject => "reject",
            DecisionKind::Dismiss => "dismiss",
            DecisionKind::TakeDown => "take_down",
        }
    }

    /// Parses a stored or form value.
    pub fn parse(text: &str) -> Option<DecisionKind> {
        match text {
            "release" => Some(DecisionKind::Release),
            "reject" => Some(DecisionKind::Reject),
            "dismiss" => Some(DecisionKind::Dismiss),
            "take_down" => Some(DecisionKind::TakeDown),
            _ => None,
        }
    }

    /// How the queue's "Recently decided" says it.
    pub fn label(self) -> &'static str {
        match self {
            DecisionKind::Release => "Released",
            DecisionKind::Reject => "Rejected",
            DecisionKind::Dismiss => "Report dismissed",
            DecisionKind::TakeDown => "Taken down",
        }
    }

    /// Whether this decision applies to an entry of `kind`.
    pub fn fits(self, kind: EntryKind) -> bool {
        matches!(
            (kind, self),
            (EntryKind::Held, DecisionKind::Release | DecisionKind::Reject)
                | (EntryKind::Report, DecisionKind::Dismiss | DecisionKind::TakeDown)
        )
    }

    /// Whether the decision needs the check the message passed (to resolve it).
    pub fn resolves(self) -> bool {
        !matches!(self, DecisionKind::Dismiss)
    }
}

/// The reason a decision gives the author: what the moderator typed (cut to what the ABI
/// carries), or a plain default for a rejection or a take-down; none for the others.
pub fn decision_reason(decision: DecisionKind, typed: &str) -> Option<String> {
    let typed = tidy(typed);
    match decision {
        DecisionKind::Release | DecisionKind::Dismiss => None,
        DecisionKind::Reject | DecisionKind::TakeDown if typed.is_empty() => {
            Some("A moderator found that this message breaks the community's rules.".to_owned())
        }
        DecisionKind::Reject | DecisionKind::TakeDown => Some(cut_reason(&typed)),
    }
}

/// What the host is told (`resolve`), if anything: a dismissal only closes the report.
pub fn host_decision(decision: DecisionKind, reason: Option<&str>) -> Option<Decision> {
    match decision {
        DecisionKind::Release => Some(Decision::Release),
        DecisionKind::Reject | DecisionKind::TakeDown => {
            Some(Decision::Reject { reason: reason.unwrap_or_default().to_owned() })
        }
        DecisionKind::Dismiss => None,
    }
}

/// What a reporter is told of the outcome of their report.
pub fn reporter_notice(decision: DecisionKind) -> Option<&'static str> {
    match decision {
        DecisionKind::Dismiss => Some(
            "The moderators reviewed the message you reported and left it up. Thank you for telling them.",
        ),
        DecisionKind::TakeDown => {
            Some("The moderators took down the message you reported. Thank you for telling them.")
        }
        DecisionKind::Release | DecisionKind::Reject => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_000_000_000);

    fn rules(words: &[&str], word_action: WordAction, days: i64) -> Rules {
        Rules { words: words.iter().map(|w| (*w).to_owned()).collect(), word_action, new_member_days: days }
    }

    fn never_asked() -> Result<Option<Timestamp>, ()> {
        panic!("the join date was asked for a message that does not need it")
    }

    #[test]
    fn blocked_words_match_whole_words_ignoring_case() {
        let r = rules(&["spam", "buy now", "Ärger"], WordAction::Refuse, 0);
        assert_eq!(blocked_word(&r, "This is SPAM."), Some("spam"));
        assert_eq!(blocked_word(&r, "spam"), Some("spam"));
        assert_eq!(blocked_word(&r, "(spam)"), Some("spam"));
        assert_eq!(blocked_word(&r, "Spammer and antispam"), None);
        assert_eq!(blocked_word(&r, "spam_bot"), None);
        assert_eq!(blocked_word(&r, "spam2"), None);
        assert_eq!(blocked_word(&r, "Please BUY   NOW!"), Some("buy now"));
        assert_eq!(blocked_word(&r, "buy\nnow"), Some("buy now"));
        assert_eq!(blocked_word(&r, "buy nowhere"), None);
        assert_eq!(blocked_word(&r, "Kein ärger, bitte"), Some("Ärger"));
        assert_eq!(blocked_word(&r, "Ärgernis"), None);
        // A second occurrence counts when the first is part of a longer word.
        assert_eq!(blocked_word(&r, "spammy spam"), Some("spam"));
        assert_eq!(blocked_word(&rules(&[], WordAction::Refuse, 0), "spam"), None);
    }

    #[test]
    fn words_that_start_or_end_with_a_symbol_match_inside_words() {
        let r = rules(&["f*ck", "#tag"], WordAction::Refuse, 0);
        assert_eq!(blocked_word(&r, "what the f*ck"), Some("f*ck"));
        assert_eq!(blocked_word(&r, "f*cking"), None);
        assert_eq!(blocked_word(&r, "see x#tag"), Some("#tag"));
    }

    #[test]
    fn links_are_found() {
        assert!(has_link("see https://example.com"));
        assert!(has_link("see HTTP://example.com"));
        assert!(has_link("www.example.com is good"));
        assert!(has_link("(WWW.example.com)"));
        assert!(!has_link("awww. so cute"));
        assert!(!has_link("http is a protocol"));
        assert!(!has_link("no links here"));
    }

    #[test]
    fn new_members_are_those_within_the_window() {
        let day = 86_400_000;
        assert!(is_new_member(Some(Timestamp(NOW.0 - 6 * day)), NOW, 7));
        assert!(is_new_member(Some(Timestamp(NOW.0 - 7 * day + 1)), NOW, 7));
        assert!(!is_new_member(Some(Timestamp(NOW.0 - 7 * day)), NOW, 7));
        assert!(!is_new_member(Some(Timestamp(NOW.0 - 30 * day)), NOW, 7));
        assert!(is_new_member(Some(Timestamp(NOW.0 + day)), NOW, 7), "a join date ahead of the clock is new");
        assert!(!is_new_member(Some(NOW), NOW, 0), "0 days is off");
        assert!(!is_new_member(None, NOW, 7), "an unknown join date is not new");
    }

    #[test]
    fn a_blocked_word_refuses_or_holds_and_says_which() {
        let refuse = rules(&["xyz"], WordAction::Refuse, 7);
        assert_eq!(
            verdict(&refuse, "this has XYZ in it", NOW, never_asked),
            Ok(Verdict::Refuse {
                reason: "Your message contains “xyz”, which this community does not allow.".into()
            })
        );
        let hold = rules(&["xyz"], WordAction::Hold, 7);
        match verdict(&hold, "xyz https://example.com", NOW, never_asked) {
            Ok(Verdict::Hold { reason }) => assert!(reason.contains("“xyz”"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn links_from_new_members_are_held_and_the_join_date_is_asked_only_then() {
        let r = Rules::default();
        let day = 86_400_000;
        let joined = |d: i64| move || Ok::<_, ()>(Some(Timestamp(NOW.0 - d * day)));
        match verdict(&r, "look: www.example.com", NOW, joined(2)) {
            Ok(Verdict::Hold { reason }) => assert!(reason.contains("less than 7 days"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(verdict(&r, "look: www.example.com", NOW, joined(20)), Ok(Verdict::Allow));
        assert_eq!(verdict(&r, "no link at all", NOW, never_asked), Ok(Verdict::Allow));
        let off = rules(&[], WordAction::Refuse, 0);
        assert_eq!(verdict(&off, "https://example.com", NOW, never_asked), Ok(Verdict::Allow));
        let one = rules(&[], WordAction::Refuse, 1);
        match verdict(&one, "https://x.example", NOW, joined(0)) {
            Ok(Verdict::Hold { reason }) => assert!(reason.contains("less than 1 day ago"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A failed look-up is the caller's error.
        assert_eq!(verdict(&r, "https://x.example", NOW, || Err("down")), Err("down"));
    }

    #[test]
    fn reasons_fit_the_abi() {
        let long = "w".repeat(MAX_WORD_CHARS * 5);
        let r = rules(&[long.as_str()], WordAction::Refuse, 0);
        match verdict(&r, &long, NOW, never_asked) {
            Ok(Verdict::Refuse { reason }) => assert_eq!(reason.chars().count(), MAX_REASON_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stored_rules_round_trip_and_are_lenient() {
        let r = Rules::from_stored("spam\n  buy   now \n\n", "hold", 3);
        assert_eq!(r, rules(&["spam", "buy now"], WordAction::Hold, 3));
        assert_eq!(Rules::from_stored(&r.words_text(), "hold", 3), r);
        assert_eq!(Rules::from_stored("", "nonsense", -4), rules(&[], WordAction::Refuse, 0));
        assert_eq!(Rules::default(), rules(&[], WordAction::Refuse, DEFAULT_NEW_MEMBER_DAYS));
    }

    #[test]
    fn the_rules_form_is_validated() {
        let form = |words, action, days| RulesForm { words, word_action: action, new_member_days: days };
        assert_eq!(
            parse_rules_form(form("Spam\r\n\r\n  buy  now\nSPAM\n", Some("hold"), " 14 ")),
            Ok(rules(&["Spam", "buy now"], WordAction::Hold, 14))
        );
        assert_eq!(parse_rules_form(form("", Some("refuse"), "0")), Ok(rules(&[], WordAction::Refuse, 0)));
        let errors = parse_rules_form(form("ok", Some("ban"), "-1")).expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(parse_rules_form(form("ok", None, "7")).is_err());
        assert!(parse_rules_form(form("ok", Some("hold"), "366")).is_err());
        assert!(parse_rules_form(form("ok", Some("hold"), "seven")).is_err());
        let too_long = "x".repeat(MAX_WORD_CHARS + 1);
        let errors = parse_rules_form(form(&too_long, Some("hold"), "7")).expect_err("too long");
        assert!(errors[0].contains("longer than 100"), "{errors:?}");
        let many: String = (0..=MAX_WORDS).map(|i| format!("word{i}\n")).collect();
        let errors = parse_rules_form(form(&many, Some("hold"), "7")).expect_err("too many");
        assert!(errors[0].contains("at most 200"), "{errors:?}");
        let exactly: String = (0..MAX_WORDS).map(|i| format!("word{i}\n")).collect();
        assert!(parse_rules_form(form(&exactly, Some("hold"), "7")).is_ok());
    }

    #[test]
    fn only_readers_may_report_and_not_their_own_messages() {
        let readers = [UserId(1), UserId(2)];
        assert_eq!(may_report(UserId(2), UserId(1), &readers), Ok(()));
        assert_eq!(may_report(UserId(1), UserId(1), &readers), Err(ReportRefusal::OwnMessage));
        assert_eq!(may_report(UserId(3), UserId(1), &readers), Err(ReportRefusal::NotFound));
        assert_eq!(may_report(UserId(3), UserId(1), &[]), Err(ReportRefusal::NotFound));
    }

    #[test]
    fn report_reasons_are_required_and_bounded() {
        assert_eq!(validate_report_reason("  rude  "), Ok("rude".to_owned()));
        assert!(validate_report_reason("   ").is_err());
        assert!(validate_report_reason(&"x".repeat(MAX_REPORT_REASON_CHARS + 1)).is_err());
        assert!(validate_report_reason(&"x".repeat(MAX_REPORT_REASON_CHARS)).is_ok());
    }

    #[test]
    fn decisions_fit_their_entries() {
        use DecisionKind::*;
        for d in [Release, Reject, Dismiss, TakeDown] {
            assert_eq!(DecisionKind::parse(d.as_str()), Some(d));
        }
        assert_eq!(DecisionKind::parse("delete"), None);
        assert!(Release.fits(EntryKind::Held) && Reject.fits(EntryKind::Held));
        assert!(!Dismiss.fits(EntryKind::Held) && !TakeDown.fits(EntryKind::Held));
        assert!(Dismiss.fits(EntryKind::Report) && TakeDown.fits(EntryKind::Report));
        assert!(!Release.fits(EntryKind::Report) && !Reject.fits(EntryKind::Report));
        assert_eq!(decision_reason(Release, "whatever"), None);
        assert_eq!(decision_reason(Reject, "  Not  here. "), Some("Not here.".to_owned()));
        assert!(decision_reason(TakeDown, "").is_some_and(|r| !r.is_empty()));
        assert_eq!(host_decision(Release, None), Some(Decision::Release));
        assert_eq!(host_decision(TakeDown, Some("r")), Some(Decision::Reject { reason: "r".into() }));
        assert_eq!(host_decision(Dismiss, None), None);
        assert!(reporter_notice(Dismiss).is_some() && reporter_notice(TakeDown).is_some());
        assert!(reporter_notice(Release).is_none());
    }
}
