//! An item as the plain text fields an office clerk edits: one field per guide element, lists
//! one entry per line, the parts of an entry separated by `｜` (or `|`). The console's item form
//! and the spreadsheet import and export use these same fields, so a card reads the same
//! everywhere an admin sees it.
//!
//! | field | 中文 | one line is |
//! |---|---|---|
//! | `materials` | 申请材料 | `名称｜原件｜1｜备注` (form: 原件, 复印件, 原件和复印件, 电子版, 照片) |
//! | `basis` | 设定依据 | `《文件》｜条款` |
//! | `places` | 办理地点 | `村｜名称｜备注` (level: 村, 乡镇, 区, 其他) |
//! | `online` | 网上办理 | `名称｜路径` |
//! | `contacts` | 咨询电话 | `名称｜电话` |
//! | `faq` | 常见问题 | `问｜答` |
//! | `examples` | 相似问法 | `申请材料｜问法` (an aspect's heading or name, 本人情况, 投诉) |
//!
//! The other list fields (别名, 申请条件, 办理流程…) are one entry per line.

use super::model::*;
use std::collections::BTreeMap;

/// A field's key (as in forms and the API), its Chinese heading, and whether it is long text.
pub const FIELDS: &[(&str, &str)] = &[
    ("name", "事项名称"),
    ("aliases", "别名"),
    ("department", "实施部门"),
    ("summary", "事项简介"),
    ("conditions", "申请条件"),
    ("materials", "申请材料"),
    ("process", "办理流程"),
    ("time_legal_days", "法定时限（工作日）"),
    ("time_promised_days", "承诺时限（工作日）"),
    ("time_instant", "即办（是/否）"),
    ("time_note", "时限说明"),
    ("fee_free", "免费（是/否）"),
    ("fee_note", "收费说明"),
    ("premium", "缴费标准"),
    ("benefit", "待遇标准"),
    ("window", "缴费/认证时间"),
    ("places", "办理地点"),
    ("online", "网上办理"),
    ("contacts", "咨询电话"),
    ("basis", "设定依据"),
    ("faq", "常见问题"),
    ("examples", "相似问法"),
    ("review_source", "内容来源"),
    ("review_reviewed_at", "审核日期"),
    ("review_status", "状态（样例/已核实）"),
];

/// The Chinese heading of a field key.
pub fn label(field: &str) -> &str {
    FIELDS
        .iter()
        .find(|(k, _)| *k == field)
        .map_or(field, |(_, l)| l)
}

/// A problem with one field, for showing next to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    /// The 1-based line of a list field, when the problem is in one entry.
    pub line: Option<usize>,
    /// What is expected, in Chinese.
    pub message: String,
}

pub type Fields = BTreeMap<String, String>;

/// The fields of `item`.
pub fn to_fields(item: &Item) -> Fields {
    let lines = |v: &[String]| v.join("\n");
    let mut f = Fields::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_owned(), v);
    };
    put("name", item.name.clone());
    put("aliases", lines(&item.aliases));
    put("department", item.department.clone());
    put("summary", item.summary.clone());
    put("conditions", lines(&item.conditions));
    put(
        "materials",
        join(item.materials.iter().map(|m| {
            vec![
                m.name.clone(),
                m.form.label().to_owned(),
                m.count.to_string(),
                m.note.clone(),
            ]
        })),
    );
    put("process", lines(&item.process));
    let days = |d: Option<u32>| d.map(|d| d.to_string()).unwrap_or_default();
    put("time_legal_days", days(item.time_limit.legal_days));
    put("time_promised_days", days(item.time_limit.promised_days));
    put("time_instant", yes_no(item.time_limit.instant));
    put("time_note", item.time_limit.note.clone());
    put("fee_free", yes_no(item.fee.free));
    put("fee_note", item.fee.note.clone());
    put("premium", lines(&item.premium));
    put("benefit", lines(&item.benefit));
    put("window", lines(&item.window));
    put(
        "places",
        join(item.places.iter().map(|p| {
            vec![
                level_word(p.level).to_owned(),
                p.name.clone(),
                p.note.clone(),
            ]
        })),
    );
    put(
        "online",
        join(
            item.online
                .iter()
                .map(|o| vec![o.name.clone(), o.path.clone()]),
        ),
    );
    put(
        "contacts",
        join(
            item.contacts
                .iter()
                .map(|c| vec![c.name.clone(), c.phone.clone()]),
        ),
    );
    put(
        "basis",
        join(
            item.basis
                .iter()
                .map(|b| vec![b.document.clone(), b.articles.clone()]),
        ),
    );
    put(
        "faq",
        join(item.faq.iter().map(|q| vec![q.q.clone(), q.a.clone()])),
    );
    put(
        "examples",
        join(item.examples.iter().flat_map(|(kind, qs)| {
            qs.iter()
                .map(move |q| vec![example_kind_label(kind).to_owned(), q.clone()])
        })),
    );
    put("review_source", item.review.source.clone());
    put("review_reviewed_at", item.review.reviewed_at.clone());
    put(
        "review_status",
        match item.review.status {
            ReviewStatus::Sample => "样例",
            ReviewStatus::Verified => "已核实",
        }
        .to_owned(),
    );
    f
}

/// Builds the item `id` from `fields`; a missing field is empty. Every problem is returned, each
/// naming its field (and line). Cross-item checks (an alias another item has) are the catalog's.
pub fn from_fields(id: &str, fields: &Fields) -> Result<Item, Vec<FieldError>> {
    let mut errors = Vec::new();
    let get = |k: &str| fields.get(k).map(|s| s.trim()).unwrap_or("");
    let list = |k: &str| -> Vec<String> {
        get(k)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let required = |k: &str, errors: &mut Vec<FieldError>| {
        let v = get(k);
        if v.is_empty() {
            errors.push(err(k, None, "必须填写"));
        }
        v.to_owned()
    };
    let name = required("name", &mut errors);
    let department = required("department", &mut errors);
    let summary = required("summary", &mut errors);

    let materials = rows(
        get("materials"),
        2,
        4,
        "materials",
        &mut errors,
        |p, line, e| {
            let form = match p.get(1).copied().unwrap_or("原件") {
                "原件" | "" => MaterialForm::Original,
                "复印件" => MaterialForm::Copy,
                "原件和复印件" | "原件及复印件" => MaterialForm::OriginalAndCopy,
                "电子版" => MaterialForm::Electronic,
                "照片" => MaterialForm::Photo,
                other => {
                    e.push(err(
                        "materials",
                        Some(line),
                        &format!(
                            "“{other}”不是材料形式，应为 原件、复印件、原件和复印件、电子版 或 照片"
                        ),
                    ));
                    return None;
                }
            };
            let count = match p.get(2).copied().unwrap_or("1") {
                "" => 1,
                n => match n.trim_end_matches(['份', '张']).parse::<u32>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        e.push(err(
                            "materials",
                            Some(line),
                            &format!("份数“{n}”应为 1 以上的整数"),
                        ));
                        return None;
                    }
                },
            };
            Some(Material {
                name: p[0].to_owned(),
                form,
                count,
                note: p.get(3).copied().unwrap_or("").to_owned(),
            })
        },
    );
    let places = rows(get("places"), 2, 3, "places", &mut errors, |p, line, e| {
        let level = match p[0] {
            "村" | "village" | "村便民服务站" => PlaceLevel::Village,
            "乡镇" | "镇" | "township" | "乡镇便民服务中心" => PlaceLevel::Township,
            "区" | "district" | "区政务服务中心" => PlaceLevel::District,
            "其他" | "other" => PlaceLevel::Other,
            other => {
                e.push(err(
                    "places",
                    Some(line),
                    &format!("“{other}”不是地点级别，应为 村、乡镇、区 或 其他"),
                ));
                return None;
            }
        };
        Some(Place {
            level,
            name: p[1].to_owned(),
            note: p.get(2).copied().unwrap_or("").to_owned(),
        })
    });
    let online = rows(get("online"), 1, 2, "online", &mut errors, |p, _, _| {
        Some(Online {
            name: p[0].to_owned(),
            path: p.get(1).copied().unwrap_or("").to_owned(),
        })
    });
    let contacts = rows(get("contacts"), 2, 2, "contacts", &mut errors, |p, _, _| {
        Some(Contact {
            name: p[0].to_owned(),
            phone: p[1].to_owned(),
        })
    });
    let basis = rows(get("basis"), 1, 2, "basis", &mut errors, |p, _, _| {
        Some(Basis {
            document: p[0].to_owned(),
            articles: p.get(1).copied().unwrap_or("").to_owned(),
        })
    });
    let faq = rows(get("faq"), 2, 2, "faq", &mut errors, |p, _, _| {
        Some(Faq {
            q: p[0].to_owned(),
            a: p[1].to_owned(),
        })
    });
    let mut examples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (kind, q) in rows(
        get("examples"),
        2,
        2,
        "examples",
        &mut errors,
        |p, line, e| match example_kind(p[0]) {
            Some(kind) => Some((kind.to_owned(), p[1].to_owned())),
            None => {
                e.push(err(
                    "examples",
                    Some(line),
                    &format!(
                        "“{}”不是问法类别，应为某一项的标题（如 申请材料）、本人情况 或 投诉",
                        p[0]
                    ),
                ));
                None
            }
        },
    ) {
        examples.entry(kind).or_default().push(q);
    }

    let days = |k: &str, errors: &mut Vec<FieldError>| match get(k) {
        "" => None,
        v => match v.trim_end_matches("个工作日").parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(err(k, None, "应为工作日天数（整数），不限时请留空"));
                None
            }
        },
    };
    let time_limit = TimeLimit {
        legal_days: days("time_legal_days", &mut errors),
        promised_days: days("time_promised_days", &mut errors),
        instant: flag("time_instant", get("time_instant"), &mut errors),
        note: get("time_note").to_owned(),
    };
    let fee = Fee {
        free: flag("fee_free", get("fee_free"), &mut errors),
        note: get("fee_note").to_owned(),
    };
    let status = match get("review_status") {
        "" | "样例" | "sample" => ReviewStatus::Sample,
        "已核实" | "verified" => ReviewStatus::Verified,
        _ => {
            errors.push(err("review_status", None, "应为 样例 或 已核实"));
            ReviewStatus::Sample
        }
    };
    let item = Item {
        id: id.to_owned(),
        name,
        aliases: list("aliases"),
        department,
        summary,
        basis,
        conditions: list("conditions"),
        materials,
        process: list("process"),
        premium: list("premium"),
        benefit: list("benefit"),
        window: list("window"),
        time_limit,
        fee,
        places,
        online,
        contacts,
        faq,
        examples,
        review: Review {
            source: get("review_source").to_owned(),
            reviewed_at: get("review_reviewed_at").to_owned(),
            status,
        },
    };
    if errors.is_empty() {
        Ok(item)
    } else {
        Err(errors)
    }
}

/// The field a catalog check's key (`item x: materials[2].count`) is about.
pub fn field_of_key(key: &str) -> String {
    let rest = key.split_once(": ").map_or(key, |(_, r)| r);
    let head: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match head.as_str() {
        "time_limit" => "time_note".into(),
        "fee" => "fee_note".into(),
        "review" => "review_reviewed_at".into(),
        _ => head,
    }
}

/// The line of a list entry in a catalog check's key (`materials[2]` → line 3).
pub fn line_of_key(key: &str) -> Option<usize> {
    let open = key.find('[')?;
    let close = key[open..].find(']')? + open;
    key[open + 1..close].parse::<usize>().ok().map(|i| i + 1)
}

fn err(field: &str, line: Option<usize>, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        line,
        message: message.to_owned(),
    }
}

fn yes_no(b: bool) -> String {
    if b { "是" } else { "否" }.to_owned()
}

fn flag(field: &str, v: &str, errors: &mut Vec<FieldError>) -> bool {
    match v {
        "是" | "on" | "true" | "1" | "yes" => true,
        "" | "否" | "off" | "false" | "0" | "no" => false,
        _ => {
            errors.push(err(field, None, "应为 是 或 否"));
            false
        }
    }
}

fn join(rows: impl Iterator<Item = Vec<String>>) -> String {
    rows.map(|parts| {
        let mut parts = parts;
        while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        parts.join("｜")
    })
    .collect::<Vec<_>>()
    .join("\n")
}

/// Parses the non-empty lines of a list field into entries of `min..=max` parts.
fn rows<T>(
    text: &str,
    min: usize,
    max: usize,
    field: &str,
    errors: &mut Vec<FieldError>,
    mut make: impl FnMut(&[&str], usize, &mut Vec<FieldError>) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split(['｜', '|']).map(str::trim).collect();
        if parts.len() < min || parts.len() > max || parts[0].is_empty() {
            let shape = match (min, max) {
                (1, 2) => "写成“名称｜说明”，说明可省",
                (2, 2) => "写成“前一部分｜后一部分”两段",
                (2, 3) => "写成“级别｜名称｜备注”，备注可省",
                _ => "写成“名称｜形式｜份数｜备注”，后面几段可省",
            };
            errors.push(err(
                field,
                Some(i + 1),
                &format!("这一行{}段，应{shape}", parts.len()),
            ));
            continue;
        }
        if let Some(t) = make(&parts, i + 1, errors) {
            out.push(t);
        }
    }
    out
}

fn level_word(level: PlaceLevel) -> &'static str {
    match level {
        PlaceLevel::Village => "村",
        PlaceLevel::Township => "乡镇",
        PlaceLevel::District => "区",
        PlaceLevel::Other => "其他",
    }
}

/// The Chinese label of an `examples` key.
pub fn example_kind_label(kind: &str) -> &str {
    match kind {
        "case" => "本人情况",
        "complaint" => "投诉",
        k => match Aspect::from_name(k) {
            Some(a) => a.label(),
            None => k,
        },
    }
}

/// The `examples` key of a label or key (申请材料 or materials → materials).
pub fn example_kind(word: &str) -> Option<&'static str> {
    match word {
        "本人情况" | "case" => Some("case"),
        "投诉" | "complaint" => Some("complaint"),
        w => Aspect::ALL
            .into_iter()
            .find(|a| a.name() == w || a.label() == w)
            .map(Aspect::name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Item {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bot-config/catalog/birth-register.toml"
        ))
        .unwrap();
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn every_shipped_element_survives_the_round_trip() {
        let item = sample();
        let fields = to_fields(&item);
        assert_eq!(from_fields(&item.id, &fields).unwrap(), item);
        assert!(fields["materials"].contains("结婚证｜原件｜1｜已婚的提供"));
    }

    #[test]
    fn each_bad_entry_is_named_by_field_and_line() {
        let mut fields = to_fields(&sample());
        fields.insert(
            "materials".into(),
            "身份证｜原件｜1\n户口簿｜手抄本｜1".into(),
        );
        fields.insert("time_legal_days".into(), "五天".into());
        fields.insert("name".into(), " ".into());
        fields.insert("examples".into(), "申请材料｜要带啥\n心情｜好烦".into());
        let errors = from_fields("birth-register", &fields).unwrap_err();
        let at = |f: &str| errors.iter().find(|e| e.field == f).cloned();
        assert_eq!(at("materials").unwrap().line, Some(2));
        assert!(at("materials").unwrap().message.contains("手抄本"));
        assert!(at("time_legal_days").is_some());
        assert!(at("name").unwrap().message.contains("必须"));
        assert_eq!(at("examples").unwrap().line, Some(2));
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn catalog_check_keys_point_at_fields() {
        assert_eq!(field_of_key("item a: materials[2].count"), "materials");
        assert_eq!(line_of_key("item a: materials[2].count"), Some(3));
        assert_eq!(field_of_key("item a: aliases \"x\""), "aliases");
        assert_eq!(example_kind("申请材料"), Some("materials"));
        assert_eq!(example_kind_label("case"), "本人情况");
    }
}
