//! Stage 3b: retrieval by character bigrams (TF-IDF cosine) over item names, aliases and FAQ
//! questions. It rewards questions that share rarer wording with an item even when no listed
//! keyword matched, and picks the FAQ entry closest to a question.

use rustc_hash::FxHashMap;

/// A bigram index over documents, each owned by some id (an item, a FAQ entry).
pub struct Similarity {
    /// Per bigram: its IDF and the documents holding it with their weight.
    postings: FxHashMap<u64, Posting>,
    owners: Vec<usize>,
    owner_count: usize,
}

struct Posting {
    idf: f32,
    docs: Vec<(u32, f32)>,
}

fn bigrams(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<u64> = chars
        .windows(2)
        .filter(|w| !w[0].is_whitespace() && !w[1].is_whitespace())
        .map(|w| ((w[0] as u64) << 32) | w[1] as u64)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Similarity {
    /// `docs` are (owner, normalised text) pairs; several documents may share an owner.
    pub fn new(docs: &[(usize, String)]) -> Similarity {
        let doc_grams: Vec<Vec<u64>> = docs.iter().map(|(_, t)| bigrams(t)).collect();
        let mut df: FxHashMap<u64, u32> = FxHashMap::default();
        for grams in &doc_grams {
            for g in grams {
                *df.entry(*g).or_default() += 1;
            }
        }
        let n = docs.len().max(1) as f32;
        let idf: FxHashMap<u64, f32> = df
            .iter()
            .map(|(g, d)| (*g, (1.0 + n / *d as f32).ln()))
            .collect();
        let mut postings: FxHashMap<u64, Posting> = FxHashMap::default();
        for (doc, grams) in doc_grams.iter().enumerate() {
            let norm = grams.iter().map(|g| idf[g].powi(2)).sum::<f32>().sqrt();
            for g in grams {
                postings
                    .entry(*g)
                    .or_insert_with(|| Posting {
                        idf: idf[g],
                        docs: Vec::new(),
                    })
                    .docs
                    .push((doc as u32, idf[g] / norm.max(f32::EPSILON)));
            }
        }
        Similarity {
            postings,
            owners: docs.iter().map(|(o, _)| *o).collect(),
            owner_count: docs.iter().map(|(o, _)| o + 1).max().unwrap_or(0),
        }
    }

    /// Cosine similarity (0–1) of `text` with every document that shares a bigram with it, as
    /// (owner, best score among the owner's documents), best first.
    pub fn query(&self, text: &str) -> Vec<(usize, f32)> {
        let found: Vec<&Posting> = bigrams(text)
            .iter()
            .filter_map(|g| self.postings.get(g))
            .collect();
        let q_norm = found.iter().map(|p| p.idf.powi(2)).sum::<f32>().sqrt();
        if q_norm == 0.0 {
            return Vec::new();
        }
        // Dense accumulators: one slot per document and per owner, cheaper than maps.
        let mut by_doc = vec![0f32; self.owners.len()];
        let mut touched: Vec<u32> = Vec::new();
        for posting in found {
            let qw = posting.idf / q_norm;
            for (doc, dw) in &posting.docs {
                let slot = &mut by_doc[*doc as usize];
                if *slot == 0.0 {
                    touched.push(*doc);
                }
                *slot += qw * dw;
            }
        }
        let mut best = vec![0f32; self.owner_count];
        let mut owners: Vec<usize> = Vec::new();
        for doc in touched {
            let owner = self.owners[doc as usize];
            if best[owner] == 0.0 {
                owners.push(owner);
            }
            best[owner] = best[owner].max(by_doc[doc as usize]);
        }
        let mut out: Vec<(usize, f32)> = owners.into_iter().map(|o| (o, best[o])).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_document_wins() {
        let s = Similarity::new(&[
            (0, "老人瘫痪在床去不了银行怎么激活".into()),
            (1, "补办社保卡要多少钱".into()),
        ]);
        let r = s.query("瘫痪在床的老人怎么办");
        assert_eq!(r[0].0, 0);
        assert!(r[0].1 > 0.3 && r[0].1 <= 1.0 + f32::EPSILON);
        assert!(s.query("今天天气").is_empty());
    }
}
