//! The insurer master and the facility list.
//!
//! Both are small and must be identical for the loader (which inserts them) and the
//! population generator (which assigns people to them), so they are pure functions of the
//! seed. Only the 健保組合 names, locations and sizes depend on the seed; the public
//! insurers (協会けんぽ branches, 共済, 市町村国保, 広域連合) follow from the prefecture
//! and city tables and are the same for every seed.
//!
//! Insurer numbers are built as 法別 + 都道府県 + 3-digit serial and completed with
//! `InsurerNumber::with_check_digit`, so every number in the master is valid by
//! construction (domain.md §1.1). 協会けんぽ branches use serial 001, which gives the
//! real 01130012 for Tokyo.

use onshi_core::ids::{InsurerNumber, MedicalInstitutionCode};
use onshi_core::model::{Facility, Insurer, InsurerKind};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{KUMIAI_PREFIX, KUMIAI_SUFFIX, PREFS};

/// How card numbers are laid out at one insurer (see `gen::Allocator`).
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    /// 協会けんぽ: 8-digit 事業所記号, small numbers within the employer.
    Kyokai,
    /// 健保組合: ≤4-digit 記号 per employer, ≤7-digit numbers within it.
    Kumiai,
    /// 共済: a few fixed symbols (kanji, full-width digits), numbers from `base`.
    Kyosai { symbols: Vec<String>, base: u64 },
    /// 市町村国保: one symbol like "13世", household numbers from `base` (6–10 digits).
    Kokuho { symbol: String, base: u64 },
    /// 後期高齢者医療広域連合: no symbol, 8-digit personal numbers from `base`.
    Late { base: u64 },
}

/// An insurer with what the generator needs beyond the public record.
#[derive(Debug, Clone)]
pub(crate) struct InsurerEntry {
    pub insurer: Insurer,
    /// Index into `PREFS`.
    pub pref: usize,
    pub layout: Layout,
}

/// The insurer master plus lookup tables by prefecture and city.
pub(crate) struct Directory {
    pub entries: Vec<InsurerEntry>,
    pub kyokai_by_pref: Vec<usize>,
    pub late_by_pref: Vec<usize>,
    /// `kokuho_by_city[pref][city]`.
    pub kokuho_by_city: Vec<Vec<usize>>,
    pub kumiai: Vec<usize>,
    pub kumiai_cum: Vec<u32>,
    pub kyosai: Vec<usize>,
}

fn number(body: &str) -> InsurerNumber {
    InsurerNumber::with_check_digit(body)
        .expect("insurer number bodies are built from digits of the right length")
}

/// 協会けんぽ branch names drop the 都/府/県 suffix (東京支部, 大阪支部) but keep 北海道.
fn branch_name(pref: &str) -> &str {
    pref.strip_suffix('県')
        .or_else(|| pref.strip_suffix('府'))
        .or_else(|| pref.strip_suffix('都'))
        .unwrap_or(pref)
}

fn pref_index(code: u8) -> usize {
    usize::from(code) - 1
}

impl Directory {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1A5B_0C0D_15EE_D001);
        let mut entries = Vec::new();
        let mut kyokai_by_pref = Vec::with_capacity(47);
        let mut late_by_pref = Vec::with_capacity(47);
        let mut kokuho_by_city = Vec::with_capacity(47);

        for (pi, pref) in PREFS.iter().enumerate() {
            kyokai_by_pref.push(entries.len());
            entries.push(InsurerEntry {
                insurer: Insurer {
                    number: number(&format!("01{:02}001", pref.code)),
                    name: format!("全国健康保険協会{}支部", branch_name(pref.name)),
                    kind: InsurerKind::KyokaiKenpo,
                },
                pref: pi,
                layout: Layout::Kyokai,
            });
            late_by_pref.push(entries.len());
            entries.push(InsurerEntry {
                insurer: Insurer {
                    number: number(&format!("39{:02}100", pref.code)),
                    name: format!("{}後期高齢者医療広域連合", pref.name),
                    kind: InsurerKind::LateElderly,
                },
                pref: pi,
                layout: Layout::Late {
                    base: 10_000_000 + u64::from(pref.code) * 1_700_000,
                },
            });
            let mut cities = Vec::with_capacity(pref.cities.len());
            for (ci, city) in pref.cities.iter().enumerate() {
                cities.push(entries.len());
                let first = city.chars().next().expect("city names are not empty");
                // Household numbers of 6 to 10 digits; the length is a property of the city.
                let digits = [6u32, 7, 8, 10][(usize::from(pref.code) + ci) % 4];
                entries.push(InsurerEntry {
                    insurer: Insurer {
                        number: number(&format!("{:02}{:03}", pref.code, 101 + ci)),
                        name: format!("{}{}", pref.name, city),
                        kind: InsurerKind::Kokuho,
                    },
                    pref: pi,
                    layout: Layout::Kokuho {
                        symbol: format!("{:02}{}", pref.code, first),
                        base: 10u64.pow(digits - 1) + 1000 * (ci as u64 + 1),
                    },
                });
            }
            kokuho_by_city.push(cities);
        }

        // 共済組合: 31 国家公務員 (national, counted under Tokyo), 32 地方公務員,
        // 33 警察, 34 公立学校・私学. Symbols show the kanji and full-width forms.
        let mut kyosai = Vec::new();
        let national = [
            ("001", "財務省共済組合", &["１３１", "１３２"][..]),
            ("002", "文部科学省共済組合", &["１３３", "２０１"][..]),
            ("003", "厚生労働省共済組合", &["１３４"][..]),
            ("004", "国土交通省共済組合", &["１３５", "１３６"][..]),
            ("005", "法務省共済組合", &["１３７"][..]),
        ];
        for (serial, name, symbols) in national {
            kyosai.push(entries.len());
            entries.push(InsurerEntry {
                insurer: Insurer {
                    number: number(&format!("3113{serial}")),
                    name: name.to_string(),
                    kind: InsurerKind::Kyosai,
                },
                pref: pref_index(13),
                layout: Layout::Kyosai {
                    symbols: symbols.iter().map(|s| s.to_string()).collect(),
                    base: 1_000_000,
                },
            });
        }
        for code in [13u8, 14, 11, 12, 27, 23] {
            let pref = &PREFS[pref_index(code)];
            let short = branch_name(pref.name);
            let police = if code == 13 {
                "警視庁".to_string()
            } else {
                format!("{short}県警")
            };
            let list: [(&str, String, Vec<String>, u64); 4] = [
                (
                    "32",
                    format!("{}市町村職員共済組合", pref.name),
                    vec![pref.name.to_string(), format!("{}２", pref.name)],
                    100_000,
                ),
                (
                    "33",
                    format!("警察共済組合{}支部", pref.name),
                    vec![police],
                    200_000,
                ),
                (
                    "34",
                    format!("公立学校共済組合{short}支部"),
                    vec![
                        "公立学".to_string(),
                        format!("公学{}", short.chars().next().unwrap_or('都')),
                    ],
                    3_000_000,
                ),
                (
                    "34",
                    format!("日本私立学校振興・共済事業団{short}"),
                    vec!["私学".to_string()],
                    40_000_000,
                ),
            ];
            for (i, (law, name, symbols, base)) in list.into_iter().enumerate() {
                // The 私学 entry shares 法別 34 with 公立学校, so it takes the next serial.
                let serial = if i == 3 { 2 } else { 1 };
                kyosai.push(entries.len());
                entries.push(InsurerEntry {
                    insurer: Insurer {
                        number: number(&format!("{law}{code:02}{serial:03}")),
                        name,
                        kind: InsurerKind::Kyosai,
                    },
                    pref: pref_index(code),
                    layout: Layout::Kyosai { symbols, base },
                });
            }
        }

        // 健康保険組合: names from shuffled pairs, mostly in Tokyo.
        let mut pairs: Vec<(usize, usize)> = (0..KUMIAI_PREFIX.len())
            .flat_map(|a| (0..KUMIAI_SUFFIX.len()).map(move |b| (a, b)))
            .collect();
        pairs.shuffle(&mut rng);
        let mut next_serial = [200u32; 47];
        let mut kumiai = Vec::new();
        let mut kumiai_cum = Vec::new();
        let mut total = 0u32;
        for &(a, b) in pairs.iter().take(48) {
            let code: u8 = match rng.random_range(0..100) {
                0..60 => 13,
                60..70 => 14,
                70..82 => 27,
                82..92 => 23,
                92..96 => 11,
                _ => 40,
            };
            let slot = &mut next_serial[pref_index(code)];
            *slot += rng.random_range(1..=7);
            let weight = rng.random_range(1..=20);
            total += weight;
            kumiai.push(entries.len());
            kumiai_cum.push(total);
            entries.push(InsurerEntry {
                insurer: Insurer {
                    number: number(&format!("06{code:02}{:03}", *slot)),
                    name: format!("{}{}健康保険組合", KUMIAI_PREFIX[a], KUMIAI_SUFFIX[b]),
                    kind: InsurerKind::KenpoKumiai,
                },
                pref: pref_index(code),
                layout: Layout::Kumiai,
            });
        }

        Directory {
            entries,
            kyokai_by_pref,
            late_by_pref,
            kokuho_by_city,
            kumiai,
            kumiai_cum,
            kyosai,
        }
    }

    pub fn insurers(&self) -> Vec<Insurer> {
        self.entries.iter().map(|e| e.insurer.clone()).collect()
    }

    /// A 健保組合 drawn by weight.
    pub fn pick_kumiai(&self, rng: &mut impl Rng) -> usize {
        let total = *self.kumiai_cum.last().expect("the master has 健保組合");
        let x = rng.random_range(0..total);
        let i = self.kumiai_cum.partition_point(|&c| c <= x);
        self.kumiai[i]
    }

    /// A 共済 for someone living in `pref`: the local one when there is one, else national.
    pub fn pick_kyosai(&self, pref: usize, rng: &mut impl Rng) -> usize {
        let local: Vec<usize> = self
            .kyosai
            .iter()
            .copied()
            .filter(|&i| self.entries[i].pref == pref)
            .collect();
        if !local.is_empty() && rng.random_bool(0.8) {
            local[rng.random_range(0..local.len())]
        } else {
            // The first five are the national (31) ones.
            self.kyosai[rng.random_range(0..5)]
        }
    }
}

/// The facilities of the demo: `[0]` is the demo clinic (医科), `[1]` the demo pharmacy
/// (調剤); the rest add a dental clinic, a hospital, a second pharmacy and one disabled
/// (closed) clinic. All are in Tokyo (都道府県 13).
pub(crate) fn facilities(_seed: u64) -> Vec<Facility> {
    let list: [(&str, &str, bool); 6] = [
        ("131123456", "オンシ内科クリニック", true),
        ("134123457", "オンシ薬局", true),
        ("133101234", "さくら歯科医院", true),
        ("131052001", "東都総合病院", true),
        ("134052002", "みどり薬局駅前店", true),
        ("131209999", "あおば診療所（閉院）", false),
    ];
    list.iter()
        .map(|(body, name, enabled)| Facility {
            code: MedicalInstitutionCode::with_check_digit(body)
                .expect("facility code bodies are 9 digits"),
            name: name.to_string(),
            enabled: *enabled,
            // The demo clinic has turned smartphones on; everyone else keeps the default.
            smartphone_enabled: body.starts_with("131123"),
        })
        .collect()
}
