//! `bot-config/org.toml`: the shipped sample organisation, and clear errors for a broken one.

mod helpdesk_common;
mod shipped_config;

use bangban::config::Config;
use bangban::config::org::Person;
use bangban_contract::Platform;
use helpdesk_common::config;
use shipped_config::shipped_copy;
use std::fs;

#[test]
fn the_sample_is_the_1_5_76_network_with_its_groups_and_agents() {
    let config = config();
    let org = &config.org;
    assert_eq!(org.district.name, "华容区政务服务中心");
    let townships: Vec<&str> = org.townships.iter().map(|t| t.name.as_str()).collect();
    for name in ["庙岭镇", "临江乡", "蒲团乡", "段店镇", "华容镇"] {
        assert!(townships.contains(&name), "{name}");
    }
    assert_eq!(org.townships.len(), 5);
    assert_eq!(org.villages.len(), 76);
    for n in 1..=76 {
        let group = format!("9000{n:02}");
        let v = org
            .village_of_chat(Platform::Onebot, &group)
            .unwrap_or_else(|| panic!("group {group}"));
        let agent = format!("8000{n:02}");
        match org.person(Platform::Onebot, &agent) {
            Some(Person::Agent(a)) => assert_eq!(a.villages, std::slice::from_ref(&v.id)),
            _ => panic!("agent {agent}"),
        }
    }
    for name in ["大湖村", "郭垱村"] {
        assert!(org.villages.iter().any(|v| v.name == name), "{name}");
    }
    assert!(
        org.villages
            .iter()
            .filter(|v| v.name.contains("示例村"))
            .all(|v| v.name.contains("（待填）")),
        "placeholders are marked"
    );
    for t in &org.townships {
        assert_eq!(org.township_agents(&t.id).len(), 1, "{}", t.name);
    }
    for n in 101..=105 {
        assert!(matches!(
            org.person(Platform::Onebot, &format!("800{n}")),
            Some(Person::Agent(a)) if a.townships.len() == 1
        ));
    }
    // Agents keep office hours unless they have their own duty, like 郭垱村's sample agent.
    assert!(org.agent("a01").unwrap().duty.is_none());
    let guodang = org.agent("a30").unwrap();
    assert!(guodang.duty.is_some());
    assert_ne!(org.duty(guodang), &org.hours);
    assert!(org.is_agents_chat(Platform::Onebot, "900100"));
    assert!(org.village_of_chat(Platform::Onebot, "900100").is_none());
    assert!(org.person(Platform::Onebot, "700001").is_none());
    assert_eq!((org.escalation.t1, org.escalation.t2), (30 * 60, 120 * 60));
    assert_eq!(org.context_secs, 10 * 60);
    assert_eq!(org.rating_window, 3 * 86_400);
}

/// The shipped config with `edits` applied to org.toml; the errors of loading it.
fn errors_with(edits: &[(&str, &str)]) -> Vec<String> {
    let (_tmp, dir) = shipped_copy();
    let file = dir.join("org.toml");
    let mut text = fs::read_to_string(&file).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    fs::write(&file, text).unwrap();
    match Config::load(&dir) {
        Ok(_) => panic!("broken org.toml loaded"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn has(errors: &[String], key: &str, words: &str) -> bool {
    errors
        .iter()
        .any(|e| e.contains("org.toml: ") && e.contains(&format!(": {key}: ")) && e.contains(words))
}

#[test]
fn a_broken_organisation_is_reported_by_file_key_and_expectation() {
    let errors = errors_with(&[
        (r#"township = "miaoling""#, r#"township = "nowhere""#),
        ("t1_minutes = 30", "t1_minutes = 300"),
        (r#"utc_offset = "+08:00""#, r#"utc_offset = "UTC+8""#),
        (r#""08:30-12:00""#, r#""12:00-08:30""#),
        (r#"villages = ["v02"]"#, r#"villages = ["v99"]"#),
        // …and 庙岭镇's centre agent now serves 蒲团乡: nobody serves v02 any more.
        (r#"townships = ["miaoling"]"#, r#"townships = ["putuan"]"#),
        ("context_minutes = 10", "context_minutes = 0"),
        ("window_days = 3", "window_days = 0"),
        ("{ticket}，", "，"),
        (
            r#"groups = { onebot = ["900003"] }"#,
            r#"groups = { onebot = ["900002"] }"#,
        ),
    ]);
    let expect = [
        ("villages.v01.township", "expected one of"),
        (
            "escalation.t2_minutes",
            "expected more minutes than t1_minutes",
        ),
        ("office_hours.utc_offset", "expected \"+HH:MM\""),
        ("office_hours.periods[0]", "expected \"HH:MM-HH:MM\""),
        ("agents.a02.villages", "\"v99\" is not a village"),
        ("villages.v02", "no agent serves this village"),
        ("dialogue.context_minutes", "from 1 to 1440"),
        ("rating.window_days", "from 1 to 30"),
        ("replies.ticket", "{ticket}"),
        (
            "villages.v03.groups",
            "group 900002 is already village v02's",
        ),
    ];
    for (key, words) in expect {
        assert!(
            has(&errors, key, words),
            "{key} / {words} not in:\n{errors:#?}"
        );
    }
}

#[test]
fn unknown_keys_and_a_missing_file_are_named() {
    let errors = errors_with(&[("[escalation]\n", "[escalation]\nt3_minutes = 5\n")]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("org.toml: line") && e.contains("t3_minutes")),
        "{errors:#?}"
    );
    let (_tmp, dir) = shipped_copy();
    fs::remove_file(dir.join("org.toml")).unwrap();
    let errors: Vec<String> = Config::load(&dir)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("org.toml: -: cannot read the file"))
    );
}

#[test]
fn a_broken_duty_is_reported_under_the_agent() {
    let errors = errors_with(&[
        (
            "weekdays = [1, 2, 3, 4, 5, 6]",
            "weekdays = [1, 2, 3, 4, 5, 6, 8]",
        ),
        (r#"periods = ["08:00-12:00"]"#, r#"periods = ["8点-12点"]"#),
    ]);
    assert!(
        has(&errors, "agents.a30.duty.weekdays[6]", "8 is not a weekday"),
        "{errors:#?}"
    );
    assert!(
        has(
            &errors,
            "agents.a30.duty.periods[0]",
            "expected \"HH:MM-HH:MM\""
        ),
        "{errors:#?}"
    );
    // The calendar is the office's: a holiday list under `duty` is refused by name.
    let errors = errors_with(&[(
        r#"periods = ["08:00-12:00"] }"#,
        r#"periods = ["08:00-12:00"], holidays = [] }"#,
    )]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("org.toml: line") && e.contains("holidays")),
        "{errors:#?}"
    );
}
