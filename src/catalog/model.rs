//! The item guide (办事指南) as data: one [`Item`] per government service item.
//!
//! The field set follows the national 办事指南 elements: 设定依据, 申请条件, 申请材料, 办理流程,
//! 办理时限, 收费, 办理地点, online channel, 咨询电话 and 常见问题, plus the words residents use for the
//! item (aliases, example questions) and review metadata.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One service item of the guide, as stored in `bot-config/catalog/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable id, lowercase ASCII words joined by `-` (e.g. `sbk-activate`).
    pub id: String,
    /// Official name (事项名称).
    pub name: String,
    /// Other names residents use; each alone points to this item.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Responsible department (实施主体).
    pub department: String,
    /// One or two plain sentences saying what the item is; the answer to a general question.
    pub summary: String,
    /// 设定依据: policy documents and articles.
    #[serde(default)]
    pub basis: Vec<Basis>,
    /// 申请条件: who may apply.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// 申请材料.
    #[serde(default)]
    pub materials: Vec<Material>,
    /// 办理流程: steps in order.
    #[serde(default)]
    pub process: Vec<String>,
    /// 缴费标准/档次: what a resident pays into the scheme (not a processing fee).
    #[serde(default)]
    pub premium: Vec<String>,
    /// 待遇标准: what a resident receives.
    #[serde(default)]
    pub benefit: Vec<String>,
    /// 缴费期/认证期: the yearly payment or certification window (not the processing time).
    #[serde(default)]
    pub window: Vec<String>,
    /// 办理时限.
    pub time_limit: TimeLimit,
    /// 收费.
    pub fee: Fee,
    /// 办理地点, by level.
    #[serde(default)]
    pub places: Vec<Place>,
    /// Online channels (app, mini-program, website), where they exist.
    #[serde(default)]
    pub online: Vec<Online>,
    /// 咨询电话.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// 常见问题.
    #[serde(default)]
    pub faq: Vec<Faq>,
    /// 相似问法: example questions residents ask, by what they ask — an aspect name, or `case`
    /// (the resident's own case) or `complaint`. The matcher learns from these; admins teach the
    /// bot by adding to them.
    #[serde(default)]
    pub examples: BTreeMap<String, Vec<String>>,
    /// Where the content came from and whether the district has checked it.
    pub review: Review,
}

impl Item {
    /// The name without parenthesised parts: 社会保障卡申领（含…） → 社会保障卡申领,
    /// 医疗费用手工（零星）报销 → 医疗费用手工报销.
    pub fn short_name(&self) -> String {
        let mut out = String::with_capacity(self.name.len());
        let mut depth = 0usize;
        for c in self.name.chars() {
            match c {
                '（' | '(' => depth += 1,
                '）' | ')' => depth = depth.saturating_sub(1),
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out.trim().to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basis {
    /// Document name, with its book-title marks, e.g. `《中华人民共和国社会保险法》`.
    pub document: String,
    /// Articles, e.g. `第五十八条`; empty when the whole document applies.
    #[serde(default)]
    pub articles: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    pub name: String,
    /// 原件, 复印件, 原件和复印件, 电子版 or 照片.
    pub form: MaterialForm,
    /// How many (份/张); at least 1.
    pub count: u32,
    /// Extra note (e.g. 代办时需要), may be empty.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaterialForm {
    #[serde(rename = "原件")]
    Original,
    #[serde(rename = "复印件")]
    Copy,
    #[serde(rename = "原件和复印件")]
    OriginalAndCopy,
    #[serde(rename = "电子版")]
    Electronic,
    #[serde(rename = "照片")]
    Photo,
}

impl MaterialForm {
    pub fn label(self) -> &'static str {
        match self {
            MaterialForm::Original => "原件",
            MaterialForm::Copy => "复印件",
            MaterialForm::OriginalAndCopy => "原件和复印件",
            MaterialForm::Electronic => "电子版",
            MaterialForm::Photo => "照片",
        }
    }
}

/// 办理时限: statutory (法定) and promised (承诺) limits in working days; `instant` means 即办.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimit {
    #[serde(default)]
    pub legal_days: Option<u32>,
    #[serde(default)]
    pub promised_days: Option<u32>,
    #[serde(default)]
    pub instant: bool,
    /// Plain-language note, e.g. when a yearly payment window closes.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub free: bool,
    /// What is charged and why, or a note such as 补卡工本费 rules; may be empty when free.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub level: PlaceLevel,
    /// E.g. `村便民服务站`, `华容区政务服务中心社保窗口`, `合作银行网点`.
    pub name: String,
    #[serde(default)]
    pub note: String,
}

/// The 1+5+76 ladder, plus offices outside it (banks, police stations, hospitals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceLevel {
    Village,
    Township,
    District,
    Other,
}

impl PlaceLevel {
    pub fn label(self) -> &'static str {
        match self {
            PlaceLevel::Village => "村便民服务站",
            PlaceLevel::Township => "乡镇便民服务中心",
            PlaceLevel::District => "区政务服务中心",
            PlaceLevel::Other => "其他",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Online {
    /// App or mini-program name, e.g. `鄂汇办APP`.
    pub name: String,
    /// Where in it, e.g. `首页-社保-待遇资格认证`.
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub q: String,
    pub a: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Where the content comes from (documents, public guides).
    pub source: String,
    /// Date of the last review, `YYYY-MM-DD`.
    pub reviewed_at: String,
    pub status: ReviewStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Sample content from public practice, to be checked by the district before going live.
    Sample,
    /// Checked by the district.
    Verified,
}

/// The aspects of an item a resident can ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Materials,
    TimeLimit,
    Basis,
    Place,
    Process,
    Fee,
    Conditions,
    Contact,
    Overview,
    /// 缴费标准: what is paid into a scheme (reported as `fee` in the `ask` contract).
    Premium,
    /// 待遇标准: what is received (reported as `overview`).
    Benefit,
    /// 缴费期/认证期 (reported as `time_limit`).
    Window,
}

impl Aspect {
    pub const ALL: [Aspect; 12] = [
        Aspect::Materials,
        Aspect::TimeLimit,
        Aspect::Basis,
        Aspect::Place,
        Aspect::Process,
        Aspect::Fee,
        Aspect::Conditions,
        Aspect::Contact,
        Aspect::Overview,
        Aspect::Premium,
        Aspect::Benefit,
        Aspect::Window,
    ];

    /// The nine aspects of the `ask` contract (DESIGN.md); the finer ones map onto them.
    pub fn contract(self) -> Aspect {
        match self {
            Aspect::Premium => Aspect::Fee,
            Aspect::Benefit => Aspect::Overview,
            Aspect::Window => Aspect::TimeLimit,
            a => a,
        }
    }

    /// The contract name (`materials`, `time_limit`…).
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Materials => "materials",
            Aspect::TimeLimit => "time_limit",
            Aspect::Basis => "basis",
            Aspect::Place => "place",
            Aspect::Process => "process",
            Aspect::Fee => "fee",
            Aspect::Conditions => "conditions",
            Aspect::Contact => "contact",
            Aspect::Overview => "overview",
            Aspect::Premium => "premium",
            Aspect::Benefit => "benefit",
            Aspect::Window => "window",
        }
    }

    pub fn from_name(name: &str) -> Option<Aspect> {
        Aspect::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The guide element's Chinese heading.
    pub fn label(self) -> &'static str {
        match self {
            Aspect::Materials => "申请材料",
            Aspect::TimeLimit => "办理时限",
            Aspect::Basis => "设定依据",
            Aspect::Place => "办理地点",
            Aspect::Process => "办理流程",
            Aspect::Fee => "收费标准",
            Aspect::Conditions => "申请条件",
            Aspect::Contact => "咨询电话",
            Aspect::Overview => "事项简介",
            Aspect::Premium => "缴费标准",
            Aspect::Benefit => "待遇标准",
            Aspect::Window => "缴费/认证时间",
        }
    }
}
