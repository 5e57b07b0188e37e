//! The rules' identifiers (R1–R10, SPEC §3): what each asks and its legal source, as the people
//! who read the messages and reports see them. The rules themselves are in `crate::rules`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The rules of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RuleId {
    /// Transfer must appear on the two-law platform (正向衔接).
    R1,
    /// Platform entry of a transfer late.
    R2,
    /// Platform data differs from the case.
    R3,
    /// Case information entered on the platform (有案必录).
    R4,
    /// A penalty without transfer copied to the police and the procuratorate.
    R5,
    /// Possible 以罚代刑: a penalty at or above a prosecution threshold, no transfer.
    R6,
    /// Reply to a procuratorial recommendation (检察建议).
    R7,
    /// Reply to a procuratorial opinion after non-prosecution (反向衔接).
    R8,
    /// Major penalty filed for review (重大行政处罚备案).
    R9,
    /// Police filing decision on a transfer.
    R10,
}

impl RuleId {
    pub const ALL: [RuleId; 10] = [
        RuleId::R1,
        RuleId::R2,
        RuleId::R3,
        RuleId::R4,
        RuleId::R5,
        RuleId::R6,
        RuleId::R7,
        RuleId::R8,
        RuleId::R9,
        RuleId::R10,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::R1 => "R1",
            RuleId::R2 => "R2",
            RuleId::R3 => "R3",
            RuleId::R4 => "R4",
            RuleId::R5 => "R5",
            RuleId::R6 => "R6",
            RuleId::R7 => "R7",
            RuleId::R8 => "R8",
            RuleId::R9 => "R9",
            RuleId::R10 => "R10",
        }
    }

    /// `"R1"` … `"R10"`.
    pub fn parse(s: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the rule asks, in the words of the people who read the messages and reports.
    pub fn title_zh(self) -> &'static str {
        match self {
            RuleId::R1 => "移送涉嫌犯罪案件未录入两法衔接平台",
            RuleId::R2 => "移送案件录入平台超期",
            RuleId::R3 => "平台数据与案件不一致",
            RuleId::R4 => "行政处罚案件未录入平台（有案必录）",
            RuleId::R5 => "行政处罚决定未抄送公安机关、检察院",
            RuleId::R6 => "疑似以罚代刑（涉嫌犯罪或达到立案追诉标准，未移送）",
            RuleId::R7 => "检察建议未按期书面回复",
            RuleId::R8 => "检察意见未按期回复",
            RuleId::R9 => "重大行政处罚决定未按期备案",
            RuleId::R10 => "公安机关未按期作出立案决定",
        }
    }

    /// Whether the rule's findings record a violation that nothing can mend (R2: the entry was
    /// made, late); they are [`State::Recorded`], not owed.
    pub fn records_only(self) -> bool {
        self == RuleId::R2
    }

    /// What the unit has to do about a finding, and where (a clerk reads this in a reminder).
    pub fn action_zh(self) -> &'static str {
        match self {
            RuleId::R1 => {
                "在两法衔接平台录入该案的移送信息（移送书及案件材料），并确认已抄送同级人民检察院"
            }
            RuleId::R2 => "无需补办：迟延录入已记入周报和年度考核，今后请在期限内录入",
            RuleId::R3 => "核对本单位案件系统与两法衔接平台的数据，更正有误的一方，使两边一致",
            RuleId::R4 => "在两法衔接平台录入该行政处罚案件的信息（有案必录）",
            RuleId::R5 => "将行政处罚决定书抄送同级公安机关和人民检察院，并登记抄送日期",
            RuleId::R6 => {
                "对照立案追诉标准重新审查该案：涉嫌犯罪的，依法移送公安机关并录入两法衔接平台、抄送检察院；不构成犯罪的，书面说明理由报府检联动办公室"
            }
            RuleId::R7 => "向提出检察建议的人民检察院书面回复办理情况",
            RuleId::R8 => "向人民检察院书面回复检察意见的处理结果",
            RuleId::R9 => "将重大行政处罚决定报送本级司法行政部门备案",
            RuleId::R10 => {
                "公安机关审查移送的案件，依法作出立案或不予立案的决定，书面通知移送机关并录入两法衔接平台"
            }
        }
    }

    /// What closes a finding: the data liandong must see (or the person who closes it).
    pub fn closes_zh(self) -> &'static str {
        match self {
            RuleId::R1 => "平台出现与本案相符的移送记录后，下次同步时自动销号",
            RuleId::R2 => "已记录，无需销号",
            RuleId::R3 => "两边数据一致后，下次同步时自动销号",
            RuleId::R4 => "平台出现该案的案件信息后，下次同步时自动销号",
            RuleId::R5 => "系统收到抄送记录（抄送日期）后自动销号",
            RuleId::R6 => "作出移送决定并录入平台后自动销号；确认不需移送的，由府检联动办公室核销",
            RuleId::R7 | RuleId::R8 => "回复日期登记到系统后自动销号（报府检联动办公室登记）",
            RuleId::R9 => "系统收到备案记录（备案日期）后自动销号",
            RuleId::R10 => "平台录入立案或不予立案决定及其日期后自动销号",
        }
    }

    /// A short name for a table's column and a legend (a director reads this, not the code).
    pub fn short_zh(self) -> &'static str {
        match self {
            RuleId::R1 => "移送未录平台",
            RuleId::R2 => "录入超期",
            RuleId::R3 => "信息不一致",
            RuleId::R4 => "处罚未录平台",
            RuleId::R5 => "处罚未抄送",
            RuleId::R6 => "疑似以罚代刑",
            RuleId::R7 => "检察建议未回复",
            RuleId::R8 => "检察意见未回复",
            RuleId::R9 => "处罚未备案",
            RuleId::R10 => "立案决定超期",
        }
    }

    /// The legal source behind the rule (SPEC §3), for reports and messages: the document, its
    /// number and the article (or section) that sets the obligation, each checked against the
    /// text (see `tests::each_source_cites_the_checked_provision`).
    pub fn source(self) -> &'static str {
        match self {
            RuleId::R1 | RuleId::R2 => {
                "国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》第五条；录入期限由本地规定"
            }
            RuleId::R3 => "两法衔接平台数据应与案件一致（本地要求）",
            RuleId::R4 => {
                "《甘孜藏族自治州人民代表大会常务委员会关于加强行政执法与刑事司法衔接工作的决定》（2020年）一：“有案必录”；录入期限由本地规定"
            }
            RuleId::R5 => {
                "高检会〔2006〕2号《关于在行政执法中及时移送涉嫌犯罪案件的意见》一：未能及时移送并已作出行政处罚的涉嫌犯罪案件，应于作出行政处罚十日以内向同级公安机关、人民检察院抄送《行政处罚决定书》副本"
            }
            RuleId::R7 => "《人民检察院检察建议工作规定》（2019）：被建议单位应在两个月内书面回复",
            RuleId::R8 => {
                "高检发释字〔2021〕4号《最高人民检察院关于推进行政执法与刑事司法衔接工作的规定》：对被不起诉人给予行政处罚的检察意见，有关主管机关应自收到检察意见书之日起两个月以内书面回复处理结果"
            }
            RuleId::R9 => "川办发〔2014〕3号：重大行政处罚决定报送备案",
            RuleId::R6 => {
                "国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》第五条、第十一条（不得以行政处罚代替移送）；立案追诉标准：最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定》（按案由）"
            }
            RuleId::R10 => {
                "国务院令第310号《行政执法机关移送涉嫌犯罪案件的规定》第八条（3日内审查并决定是否立案）；涉嫌经济犯罪的，《公安机关办理经济犯罪案件的若干规定》第十六条（至迟10日内作出决定）"
            }
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule {0:?}; expected one of R1 to R10")]
pub struct UnknownRule(pub String);

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<RuleId, UnknownRule> {
        let t = s.trim();
        RuleId::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownRule(s.to_owned()))
    }
}
/// A finding's state: computed by the rules at some instant (upcoming, due soon, overdue,
/// resolved), or waived by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Upcoming,
    DueSoon,
    Overdue,
    Resolved,
    /// Set aside by a person, with a reason; it stays so.
    Waived,
    /// A violation that nothing can mend now (a platform entry made late): recorded for the
    /// weekly report and the annual scorecard, owed no action, so never in a reminder.
    Recorded,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Upcoming,
        State::DueSoon,
        State::Overdue,
        State::Resolved,
        State::Waived,
        State::Recorded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Upcoming => "upcoming",
            State::DueSoon => "due_soon",
            State::Overdue => "overdue",
            State::Resolved => "resolved",
            State::Waived => "waived",
            State::Recorded => "recorded",
        }
    }

    /// The state as the console and the messages name it.
    pub fn zh(self) -> &'static str {
        match self {
            State::Upcoming => "未到期",
            State::DueSoon => "即将到期",
            State::Overdue => "逾期",
            State::Resolved => "已办结",
            State::Waived => "已豁免",
            State::Recorded => "已记录违规",
        }
    }

    /// The state named as the store keeps it.
    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Still owed: upcoming, due soon or overdue.
    pub fn is_open(self) -> bool {
        matches!(self, State::Upcoming | State::DueSoon | State::Overdue)
    }
}

/// A state compares with its name, as the store and the JSON output write it.
impl PartialEq<&str> for State {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The due-soon window of `[rules] due_soon_days`.
pub fn due_soon_window(days: i64) -> TimeDelta {
    TimeDelta::try_days(days.max(0)).unwrap_or(TimeDelta::MAX)
}

impl State {
    /// The state of a finding not (yet) resolved at `now`: the one place that says it. A
    /// violation, or anything at or past its due instant, is overdue; due soon within
    /// `due_soon` (see [`due_soon_window`]) of the due instant; upcoming before that.
    pub fn open(
        violated: bool,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
        due_soon: TimeDelta,
    ) -> State {
        if violated || now >= due {
            return State::Overdue;
        }
        if due - now <= due_soon {
            State::DueSoon
        } else {
            State::Upcoming
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RuleId;

    /// Each rule's [`RuleId::source`] names the document (by its number where it has one) and
    /// the provision that sets the obligation, as checked against the text (issue 21, point 3).
    /// One row per rule: the strings the source must contain, and where the text was read.
    #[test]
    fn each_source_cites_the_checked_provision() {
        let table: [(RuleId, &[&str]); 10] = [
            // 国务院令第310号 (2020 revision) art. 5: the head decides within 3 days of the report
            // and, if approved, transfers to the police within 24 hours. Read in full:
            // github.com/LawRefBook/Laws 行政法规/行政执法机关移送涉嫌犯罪案件的规定(2020-08-07).md;
            // the 2001 text (国务院令第310号): law203.infoeach.com/view-MjAzfDIzNjQx.html.
            (RuleId::R1, &["国务院令第310号", "第五条"]),
            (RuleId::R2, &["国务院令第310号", "第五条"]),
            // No specific provision: the platform carrying the case as decided is a local
            // requirement (SPEC §3 gives no source).
            (RuleId::R3, &["本地要求"]),
            // 甘孜州人大常委会 decision of 2020-06-24, part 一 (构建衔接工作大格局): "实现有案必录、
            // 涉罪必移、收案必办、犯罪必惩"; it sets no entry deadline. Text: m.runtun.cn
            // /html/xw/dzyw/62531.html (甘孜日报 2020-07-02).
            (
                RuleId::R4,
                &[
                    "甘孜藏族自治州人民代表大会常务委员会关于加强行政执法与刑事司法衔接工作的决定",
                    "有案必录",
                    "本地规定",
                ],
            ),
            // 高检会〔2006〕2号 part 一: a suspected crime not transferred in time and penalised
            // is copied to police and procuratorate within 十日 of the penalty. Text:
            // law221.infoeach.com/view-MjIxfDk5ODk3.html.
            (RuleId::R5, &["高检会〔2006〕2号", "一：", "十日以内"]),
            // 国务院令第310号 art. 11: a penalty does not replace the transfer (same file as R1);
            // the thresholds per cause are configured with their own article (立案追诉标准（一）
            // 第十六条 read at xyzy.jxfy.gov.cn/article/detail/2019/12/id/4739021.shtml).
            (RuleId::R6, &["国务院令第310号", "第十一条", "立案追诉标准"]),
            // 《人民检察院检察建议工作规定》(2019): no stored page found shows the text of its
            // two-month reply rule (art. 19, as the code's comment had it, is unconfirmed), so the
            // source names the document and the period only, as before.
            (RuleId::R7, &["人民检察院检察建议工作规定", "两个月"]),
            // 高检发释字〔2021〕4号 is 《最高人民检察院关于推进行政执法与刑事司法衔接工作的规定》
            // (2021-09-06; bjknxz.com/shiyongfagui/29034073206.html, from spp.gov.cn
            // t20211011_531819). Its reply period — 自收到检察意见书之日起两个月以内书面回复 — is
            // quoted from it at haikoufazhiwang.com.cn/zhengfa/323.html; no stored page shows the
            // article's number, so none is cited. Not 《人民检察院刑事诉讼规则》: that is
            // 高检发释字〔2019〕4号 (pkulaw.cn fulltext page, 发文字号), and its art. 373 only asks
            // 及时通报处理情况 (LawRefBook/Laws 司法解释/人民检察院刑事诉讼规则(2019-12-02).md).
            (
                RuleId::R8,
                &[
                    "高检发释字〔2021〕4号",
                    "最高人民检察院关于推进行政执法与刑事司法衔接工作的规定",
                    "自收到检察意见书之日起两个月以内",
                ],
            ),
            // 川办发〔2014〕3号: no stored page found for it; kept as SPEC §3 gives it, unverified.
            (RuleId::R9, &["川办发〔2014〕3号"]),
            // 国务院令第310号 art. 8: the police decide within 3 days of receipt (same file as
            // R1). 《公安机关办理经济犯罪案件的若干规定》 art. 16: for a transferred economic
            // crime, 3 days, 至迟应当在十日以内. Text: 191i.com/i/1545029207750729307.html.
            (
                RuleId::R10,
                &[
                    "国务院令第310号",
                    "第八条",
                    "公安机关办理经济犯罪案件的若干规定",
                    "第十六条",
                ],
            ),
        ];
        for (rule, needles) in table {
            let source = rule.source();
            for needle in needles {
                assert!(
                    source.contains(needle),
                    "{rule}: source {source:?} lacks {needle:?}"
                );
            }
        }
        assert_eq!(
            table.map(|(r, _)| r),
            RuleId::ALL,
            "one row per rule, in order"
        );
        assert!(
            !RuleId::R8.source().contains("刑事诉讼规则"),
            "R8's period is not in 《人民检察院刑事诉讼规则》"
        );
    }
}
