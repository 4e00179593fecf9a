//! Whole-word phrase matching: the one place where text becomes signals.
//!
//! Text is lower-cased and split into tokens, maximal runs of letters and digits. A phrase
//! is a sequence of tokens, so `credit_card`, `credit-card` and `Credit Card` are the same
//! phrase, and `rename` can never match `name` (SPEC §3.2).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Splits lower-cased `text` into tokens. Returns the owned lower-cased text's tokens as
/// byte ranges so callers allocate once per field.
pub(crate) fn tokenize(text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push((s, i));
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
}

/// Lower-cases text, avoiding a copy-and-convert pass for the common ASCII case.
pub(crate) fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        text.to_lowercase()
    }
}

/// A phrase's tokens, for building lexicons and for validation.
pub(crate) fn phrase_tokens(phrase: &str) -> Vec<String> {
    let lower = lowercase(phrase);
    let mut ranges = Vec::new();
    tokenize(&lower, &mut ranges);
    ranges
        .into_iter()
        .map(|(s, e)| lower[s..e].to_owned())
        .collect()
}

/// A small multiply-rotate hasher (the Fx hash of rustc) for token lookups. The keys are
/// the policy's vocabulary, never attacker-chosen, so SipHash's flooding resistance buys
/// nothing here and costs a fifth of the scan.
#[derive(Debug, Default, Clone, Copy)]
struct TokenHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl TokenHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for TokenHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone)]
struct Entry<T> {
    rest: Box<[Box<str>]>,
    phrase: Box<str>,
    tag: T,
}

/// A set of phrases, each carrying a tag, indexed by first token.
#[derive(Debug, Clone)]
pub(crate) struct Lexicon<T> {
    by_first: HashMap<Box<str>, Vec<Entry<T>>, BuildHasherDefault<TokenHasher>>,
}

impl<T> Default for Lexicon<T> {
    fn default() -> Self {
        Lexicon {
            by_first: HashMap::default(),
        }
    }
}

impl<T: Copy + PartialEq> Lexicon<T> {
    /// Adds `phrase` with `tag`. Phrases without tokens are ignored (validation reports them).
    pub(crate) fn insert(&mut self, phrase: &str, tag: T) {
        let tokens = phrase_tokens(phrase);
        let Some((first, rest)) = tokens.split_first() else {
            return;
        };
        let entries = self.by_first.entry(first.as_str().into()).or_default();
        let rest: Box<[Box<str>]> = rest.iter().map(|t| t.as_str().into()).collect();
        if entries.iter().any(|e| e.tag == tag && e.rest == rest) {
            return;
        }
        entries.push(Entry {
            rest,
            phrase: phrase.into(),
            tag,
        });
    }

    /// Calls `found(tag, phrase)` for every phrase occurring whole in already lower-cased
    /// `lower`, whose tokens are `tokens`.
    pub(crate) fn scan_tokens(
        &self,
        lower: &str,
        tokens: &[(usize, usize)],
        mut found: impl FnMut(T, &str),
    ) {
        for (i, &(s, e)) in tokens.iter().enumerate() {
            let Some(entries) = self.by_first.get(&lower[s..e]) else {
                continue;
            };
            for entry in entries {
                let following = &tokens[i + 1..];
                if following.len() >= entry.rest.len()
                    && entry
                        .rest
                        .iter()
                        .zip(following)
                        .all(|(want, &(s, e))| **want == lower[s..e])
                {
                    found(entry.tag, &entry.phrase);
                }
            }
        }
    }

    /// Convenience for one-off scans: lower-cases and tokenizes `text` first.
    #[cfg(test)]
    pub(crate) fn scan(&self, text: &str, found: impl FnMut(T, &str)) {
        let lower = lowercase(text);
        let mut tokens = Vec::new();
        tokenize(&lower, &mut tokens);
        self.scan_tokens(&lower, &tokens, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(lexicon: &Lexicon<u8>, text: &str) -> Vec<(u8, String)> {
        let mut out = Vec::new();
        lexicon.scan(text, |tag, phrase| out.push((tag, phrase.to_owned())));
        out
    }

    #[test]
    fn matches_whole_words_and_phrases_only() {
        let mut lex = Lexicon::default();
        lex.insert("name", 1);
        lex.insert("health", 2);
        lex.insert("token", 3);
        lex.insert("credit card", 4);
        lex.insert("auth", 5);
        lex.insert("127.0.0.1", 6);
        assert_eq!(
            hits(&lex, "rename the healthcheck tokenizer author"),
            vec![]
        );
        assert_eq!(hits(&lex, "Store the NAME"), vec![(1, "name".to_owned())]);
        assert_eq!(
            hits(&lex, "card, credit_card and Credit-Card; credit"),
            vec![(4, "credit card".to_owned()), (4, "credit card".to_owned())]
        );
        assert_eq!(
            hits(&lex, "bind 127.0.0.1:80"),
            vec![(6, "127.0.0.1".to_owned())]
        );
        assert_eq!(hits(&lex, "127.0.0.2"), vec![]);
    }

    #[test]
    fn tokenizes_unicode_letters() {
        let mut lex = Lexicon::default();
        lex.insert("données", 1);
        assert_eq!(
            hits(&lex, "les DONNÉES clients"),
            vec![(1, "données".to_owned())]
        );
    }
}
