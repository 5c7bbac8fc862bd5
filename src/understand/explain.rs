//! `bangban ask --explain`: the top classes of each model with their probabilities, and the
//! features that decided the topic.

use super::{Matcher, examples::Intent};
use crate::catalog::{Aspect, Catalog, Matters};

pub struct Explanation {
    pub normalized: String,
    /// The catalog's words found.
    pub words: Vec<String>,
    pub intents: Vec<(String, f32)>,
    /// Items, "matter#N" (listed matters without a guide, grouped by the item they neighbour)
    /// and "nothing".
    pub topics: Vec<(String, f32)>,
    pub aspects: Vec<(String, f32)>,
    /// The best topic class, and the features that add most to it.
    pub deciding: String,
    pub features: Vec<(String, f32)>,
    /// The closest listed matters by wording.
    pub matters: Vec<(String, f32)>,
}

fn top(mut v: Vec<(String, f32)>, n: usize) -> Vec<(String, f32)> {
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(n);
    v
}

impl Matcher {
    pub fn explain(&self, text: &str, catalog: &Catalog, matters: &Matters) -> Explanation {
        let (read, keys) = self.read_keys(text);
        let columns = self.columns(&keys);
        let n = self.item_count;
        let topic_name = |c: usize| match c {
            c if c < n => catalog.items()[c].id.clone(),
            c if c < n + self.matter_groups => format!("matter#{}", c - n),
            _ => "nothing".to_string(),
        };
        let intents = self.intent.predict(&columns);
        let topics = self.topic.predict(&columns);
        let aspects = self.aspect.predict(&columns);
        let best = topics
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |x| x.0);
        let mut labelled = self.featurizer.labelled(&read.prepared.text, &self.table);
        for (flag, on) in super::cue_flags(&read.signals) {
            if on {
                labelled.push((
                    super::features::key(super::Kind::Cue, &[flag]),
                    format!("提示:{flag}"),
                ));
            }
        }
        labelled.sort();
        labelled.dedup();
        let features = labelled
            .into_iter()
            .filter_map(|(k, label)| {
                let col = *self.vocab.get(&k)?;
                Some((label, self.topic.contribution(col, best, columns.len())))
            })
            .collect();
        Explanation {
            words: self.featurizer.words(&read.prepared.text),
            normalized: read.prepared.text.clone(),
            intents: top(
                Intent::ALL
                    .iter()
                    .zip(&intents)
                    .map(|(i, p)| (i.name().to_string(), *p))
                    .collect(),
                3,
            ),
            topics: top(
                topics
                    .iter()
                    .enumerate()
                    .map(|(c, p)| (topic_name(c), *p))
                    .collect(),
                5,
            ),
            aspects: top(
                Aspect::ALL
                    .iter()
                    .zip(&aspects)
                    .map(|(a, p)| (a.name().to_string(), *p))
                    .collect(),
                3,
            ),
            deciding: topic_name(best),
            features: top(features, 8),
            matters: self
                .matters
                .query(&read.prepared.text)
                .into_iter()
                .take(3)
                .filter_map(|(m, sim)| Some((matters.list().get(m)?.id.clone(), sim)))
                .collect(),
        }
    }
}
