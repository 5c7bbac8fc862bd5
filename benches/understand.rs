//! Throughput of the understanding step (normalise → match → decide), one thread.
//!
//! `cargo bench --bench understand` — reports questions/s for the shipped catalog and for a
//! generated 1,000-item catalog, and the time training takes on the shipped catalog. Goals
//! (DESIGN.md, issue 7): ≥ 50,000/s, ≥ 10,000/s, training < 1 s.

use bangban::catalog::{Catalog, Item};
use bangban::config::Config;
use bangban::understand::Matcher;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

/// Questions of every kind: answers, typos, pinyin, dialect, chatter, escalations, long run-ons.
const QUESTIONS: &[(&str, bool)] = &[
    ("老年卡要带什么材料", true),
    ("设保卡怎么急活", true),
    ("请问一下今年城乡医保每个人交多少钱？", false),
    ("laonianka zai nali ban", true),
    ("我屋里老头子今年八十三了 高龄津贴么样申请 要带么东西", true),
    ("[CQ:at,qq=2854196310] 低保审批要多长时间", true),
    ("我妈的养老金这个月怎么还没到账", true),
    ("今天晚上广场舞几点开始", false),
    ("哈哈哈哈哈", false),
    ("社保卡", true),
    ("身份证過期了去哪裡換", true),
    (
        "在外地住院冇得直接结算回来么样报销要带哪些单子发票要原件吗一般好久能打到卡上",
        true,
    ),
    ("办营业执照要什么材料", true),
    ("你好", true),
    ("宅基地建房审批要什么手续", true),
    ("残疾人两项补贴的政策依据是什么", true),
];

fn shipped() -> Config {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config")).expect("shipped config")
}

/// The shipped items plus generated ones up to `n`, each with its own made-up names so that
/// the matcher's word tables grow as a real 1,000-item guide would.
fn generated(config: &Config, n: usize) -> Catalog {
    let base = config.catalog.items();
    let mut items: Vec<Item> = base.to_vec();
    let syllables: Vec<char> = "安百宝北贝本比边表宾波才采仓草策茶长朝车晨成城池冲初川传春慈聪翠达丹道德登迪典东冬栋端敦朵恩帆方芳飞丰凤福富刚高歌耕工公广贵国海寒和河衡红宏洪鸿虹华怀欢辉慧吉佳嘉建江杰洁金锦进晶景静菊俊凯康柯科可克坤兰朗乐雷黎莉连良亮林玲凌令柳龙隆鲁陆路伦罗洛满茂梅美门萌蒙梦敏明铭木穆南楠宁农鹏平萍齐祺强乔勤青清庆秋泉仁荣瑞润若森山善尚绍升生圣盛诗石士世书舒树帅顺思松苏素涛腾天田彤同婷威薇维伟卫文武希熙祥翔晓心欣新信星兴雄修秀旭轩宣学雪雅亚岩言彦阳洋耀业依怡宜义艺益逸毅银英莹永勇友宇雨玉元园源远月悦云芸泽增展章昭振正之志智忠舟洲竹卓子宗".chars().collect();
    let word = |i: usize, salt: usize| -> String {
        let a = syllables[(i * 7 + salt) % syllables.len()];
        let b = syllables[(i * 13 + salt * 3 + 1) % syllables.len()];
        let c = syllables[(i / syllables.len() + salt * 5 + 2) % syllables.len()];
        format!("{a}{b}{c}")
    };
    let mut i = 0;
    while items.len() < n {
        let mut item = base[i % base.len()].clone();
        item.id = format!("gen-{i}");
        item.name = format!("{}证办理", word(i, 0));
        item.aliases = vec![
            format!("{}证", word(i, 0)),
            format!("办{}证", word(i, 0)),
            format!("{}补助", word(i, 1)),
        ];
        // Each generated item is taught by its names and a few example questions of its own.
        item.examples = [(
            "overview".to_string(),
            vec![
                format!("{}证怎么办", word(i, 0)),
                format!("办{}证要带什么", word(i, 0)),
                format!("{}补助在哪里申请", word(i, 1)),
            ],
        )]
        .into_iter()
        .collect();
        item.faq.clear();
        items.push(item);
        i += 1;
    }
    Catalog::from_items(items).expect("generated catalog is valid")
}

fn bench(c: &mut Criterion) {
    let config = shipped();
    let mut group = c.benchmark_group("understand");
    group.throughput(Throughput::Elements(QUESTIONS.len() as u64));

    let matcher = Matcher::new(&config);
    group.bench_function("shipped catalog", |b| {
        b.iter(|| {
            for (q, addressed) in QUESTIONS {
                black_box(matcher.understand(black_box(q), *addressed));
            }
        })
    });

    let big = generated(&config, 1000);
    assert_eq!(big.len(), 1000);
    let matcher = Matcher::build(
        &big,
        &config.matters,
        &config.intents,
        &config.vague,
        &config.lexicon,
        &config.tuning,
    );
    group.bench_function("1000-item catalog", |b| {
        b.iter(|| {
            for (q, addressed) in QUESTIONS {
                black_box(matcher.understand(black_box(q), *addressed));
            }
        })
    });
    group.finish();

    // Training when the catalog loads (and after an admin's edit): goal < 1 s.
    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.bench_function("shipped catalog", |b| {
        b.iter(|| black_box(Matcher::new(&config)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
