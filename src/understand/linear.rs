//! Multinomial logistic regression over sparse binary features, trained by plain SGD.
//!
//! Deterministic: the examples are visited in an order drawn from a fixed seed, so the same
//! training data always gives the same weights. Each example's features are scaled by
//! 1/√n so that long run-on messages and terse queries weigh alike.

/// One training example: feature columns (distinct, below the model's `features`) and its class.
pub struct Row {
    pub features: Vec<u32>,
    pub class: u32,
    /// How much the example counts (classes with many examples weigh each one less).
    pub weight: f32,
}

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub epochs: u32,
    pub learning_rate: f32,
    pub l2: f32,
}

/// Weights smaller than this are dropped after training: they change no decision and would
/// make the model many times larger.
const KEEP: f32 = 0.03;

/// A trained model: per feature column, the classes it speaks for with their weights (sparse:
/// a feature seen with a few classes holds a few weights, so a 1,000-item catalog stays small),
/// plus a bias per class.
#[derive(Clone)]
pub struct Linear {
    classes: usize,
    /// Feature `f`'s (class, weight) pairs are `entries[start[f]..start[f + 1]]`: one flat
    /// array, so a message's features are read without a pointer chase each.
    start: Vec<u32>,
    entries: Vec<(u32, f32)>,
    bias: Vec<f32>,
    /// The weights of busy features (those speaking for many classes) also laid out as dense
    /// rows: adding a contiguous row is several times faster than as many scattered adds.
    /// `dense_row[f]` is feature `f`'s row in `dense`, or [`SPARSE`].
    dense_row: Vec<u32>,
    dense: Vec<f32>,
}

/// `dense_row` of a feature read from its sparse entries only.
const SPARSE: u32 = u32::MAX;

/// A feature gets a dense row when it has weights for at least one class in this many: then
/// the row's contiguous adds cost less than its scattered ones. (The intent and aspect models,
/// with few classes, are all dense; the topic model's busy features are.)
const DENSE_SHARE: usize = 8;

impl Linear {
    /// Trains on dense weights (fast, vectorised), then keeps only the weights that matter.
    pub fn train(rows: &[Row], features: usize, classes: usize, p: &Params) -> Linear {
        let mut dense = vec![0f32; features * classes];
        let mut bias = vec![0f32; classes];
        if !rows.is_empty() && classes > 0 {
            let mut order: Vec<usize> = (0..rows.len()).collect();
            let mut rng = SplitMix(0x5eed_ba09_ba09_2026);
            let mut probs = vec![0f32; classes];
            let mut active: Vec<(usize, f32)> = Vec::with_capacity(classes);
            let steps = (p.epochs as usize * rows.len()) as f32;
            let mut step = 0f32;
            for _ in 0..p.epochs {
                // Fisher–Yates with the fixed-seed generator.
                for i in (1..order.len()).rev() {
                    let j = (rng.next() % (i as u64 + 1)) as usize;
                    order.swap(i, j);
                }
                for &r in &order {
                    let row = &rows[r];
                    // Linear decay to a tenth of the initial rate.
                    let lr = p.learning_rate * (1.0 - 0.9 * step / steps);
                    step += 1.0;
                    let v = scale(row.features.len());
                    probs.copy_from_slice(&bias);
                    for &f in &row.features {
                        let w = &dense[f as usize * classes..(f as usize + 1) * classes];
                        for (o, w) in probs.iter_mut().zip(w) {
                            *o += w * v;
                        }
                    }
                    softmax(&mut probs);
                    probs[row.class as usize] -= 1.0;
                    // Classes the example says almost nothing about are skipped: most are,
                    // after the first passes.
                    active.clear();
                    for (c, g) in probs.iter().enumerate() {
                        if g.abs() > 1e-3 {
                            active.push((c, g * row.weight));
                        }
                    }
                    for &(c, g) in &active {
                        bias[c] -= lr * g;
                    }
                    let shrink = 1.0 - lr * p.l2;
                    for &f in &row.features {
                        let w = &mut dense[f as usize * classes..(f as usize + 1) * classes];
                        for &(c, g) in &active {
                            w[c] = w[c] * shrink - lr * g * v;
                        }
                    }
                }
            }
        }
        for w in dense.iter_mut().filter(|w| w.abs() <= KEEP) {
            *w = 0.0;
        }
        let weights = (0..features)
            .map(|f| {
                dense[f * classes..(f + 1) * classes]
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| **w != 0.0)
                    .map(|(c, w)| (c as u32, *w))
                    .collect()
            })
            .collect();
        drop(dense);
        Linear::new(classes, weights, bias)
    }

    /// A model from its sparse weights; busy features also get dense rows.
    fn new(classes: usize, weights: Vec<Vec<(u32, f32)>>, bias: Vec<f32>) -> Linear {
        let busy = classes.div_ceil(DENSE_SHARE).max(1);
        let mut start = Vec::with_capacity(weights.len() + 1);
        start.push(0);
        let mut entries = Vec::with_capacity(weights.iter().map(Vec::len).sum());
        let mut dense_row = Vec::with_capacity(weights.len());
        let mut dense = Vec::new();
        for w in &weights {
            entries.extend_from_slice(w);
            start.push(entries.len() as u32);
            if w.len() >= busy {
                dense_row.push((dense.len() / classes) as u32);
                let at = dense.len();
                dense.resize(at + classes, 0.0);
                for &(c, x) in w {
                    dense[at + c as usize] = x;
                }
            } else {
                dense_row.push(SPARSE);
            }
        }
        Linear {
            classes,
            start,
            entries,
            bias,
            dense_row,
            dense,
        }
    }

    /// Feature `f`'s (class, weight) pairs.
    fn of(&self, f: u32) -> &[(u32, f32)] {
        let f = f as usize;
        &self.entries[self.start[f] as usize..self.start[f + 1] as usize]
    }

    /// Class probabilities for a set of distinct feature columns.
    pub fn predict(&self, features: &[u32]) -> Vec<f32> {
        let mut out = vec![0f32; self.classes];
        self.logits(features, scale(features.len()), &mut out);
        softmax(&mut out);
        out
    }

    /// What one feature adds to one class's score in a message with `n` features.
    pub fn contribution(&self, feature: u32, class: usize, n: usize) -> f32 {
        self.of(feature)
            .iter()
            .find(|(c, _)| *c as usize == class)
            .map_or(0.0, |(_, w)| w * scale(n))
    }

    fn logits(&self, features: &[u32], v: f32, out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        let k = self.classes;
        let mut sums = vec![0f32; k];
        for &f in features {
            match self.dense_row[f as usize] {
                SPARSE => {
                    for &(c, w) in self.of(f) {
                        sums[c as usize] += w;
                    }
                }
                row => {
                    let row = &self.dense[row as usize * k..(row as usize + 1) * k];
                    for (s, w) in sums.iter_mut().zip(row) {
                        *s += w;
                    }
                }
            }
        }
        for (o, s) in out.iter_mut().zip(sums) {
            *o += s * v;
        }
    }
}

impl Linear {
    /// Appends the model to `out` (little-endian), for the model cache.
    pub fn write(&self, out: &mut Vec<u8>) {
        put(out, self.classes as u32);
        put(out, self.features() as u32);
        for b in &self.bias {
            out.extend_from_slice(&b.to_le_bytes());
        }
        for f in 0..self.features() as u32 {
            let w = self.of(f);
            put(out, w.len() as u32);
            for (c, x) in w {
                put(out, *c);
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }

    /// Reads a model written by [`Linear::write`]; None when the bytes do not hold one.
    pub fn read(r: &mut Reader) -> Option<Linear> {
        let classes = r.u32()? as usize;
        let features = r.u32()? as usize;
        let bias = (0..classes).map(|_| r.f32()).collect::<Option<Vec<_>>>()?;
        let mut weights = Vec::with_capacity(features.min(r.left() / 4));
        for _ in 0..features {
            let n = r.u32()? as usize;
            let mut w = Vec::with_capacity(n.min(classes));
            for _ in 0..n {
                let c = r.u32()?;
                if c as usize >= classes {
                    return None;
                }
                w.push((c, r.f32()?));
            }
            weights.push(w);
        }
        Some(Linear::new(classes, weights, bias))
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn features(&self) -> usize {
        self.start.len() - 1
    }
}

pub fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Reads little-endian numbers from a byte slice; every read is bounds-checked.
pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    pub fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    pub fn f32(&mut self) -> Option<f32> {
        self.take().map(f32::from_le_bytes)
    }
    pub fn left(&self) -> usize {
        self.0.len()
    }
}

fn scale(n: usize) -> f32 {
    if n == 0 { 0.0 } else { 1.0 / (n as f32).sqrt() }
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// SplitMix64: a tiny, well-known generator; enough for shuffling with a fixed seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        // Feature 0 means class 0, feature 1 class 1, feature 2 is shared noise.
        let mut rows = Vec::new();
        for _ in 0..20 {
            rows.push(Row {
                features: vec![0, 2],
                class: 0,
                weight: 1.0,
            });
            rows.push(Row {
                features: vec![1, 2],
                class: 1,
                weight: 1.0,
            });
        }
        rows
    }

    const P: Params = Params {
        epochs: 10,
        learning_rate: 0.5,
        l2: 1e-4,
    };

    #[test]
    fn learns_which_feature_means_which_class() {
        let m = Linear::train(&rows(), 3, 2, &P);
        let p0 = m.predict(&[0, 2]);
        let p1 = m.predict(&[1, 2]);
        assert!(p0[0] > 0.9 && p1[1] > 0.9, "{p0:?} {p1:?}");
        // The shared feature alone says nothing either way.
        let shared = m.predict(&[2]);
        assert!((shared[0] - 0.5).abs() < 0.1, "{shared:?}");
        assert!(m.contribution(0, 0, 2) > 0.0 && m.contribution(0, 1, 2) < 0.0);
    }

    #[test]
    fn training_is_deterministic() {
        let a = Linear::train(&rows(), 3, 2, &P);
        let b = Linear::train(&rows(), 3, 2, &P);
        assert_eq!((&a.start, &a.entries), (&b.start, &b.entries));
        // Sparse: the shared feature and its two classes, nothing else.
        assert!((0..3).all(|f| a.of(f).len() <= 2));
        assert_eq!(a.bias, b.bias);
    }

    #[test]
    fn a_written_model_reads_back_the_same_and_garbage_is_refused() {
        let m = Linear::train(&rows(), 3, 2, &P);
        let mut bytes = Vec::new();
        m.write(&mut bytes);
        let back = Linear::read(&mut Reader(&bytes)).expect("reads back");
        assert_eq!(
            (back.start, back.entries, back.bias),
            (m.start.clone(), m.entries.clone(), m.bias.clone())
        );
        assert!(Linear::read(&mut Reader(&bytes[..bytes.len() - 3])).is_none());
        assert!(Linear::read(&mut Reader(&[0xff; 12])).is_none());
    }

    #[test]
    fn probabilities_sum_to_one_and_nothing_known_is_the_prior() {
        let m = Linear::train(&rows(), 3, 2, &P);
        let p = m.predict(&[]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!((p[0] - p[1]).abs() < 0.05, "{p:?}");
    }
}
