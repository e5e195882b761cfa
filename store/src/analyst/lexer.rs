//! A tokenizer of ClickHouse SQL, as strict as the analyst validator needs.
//!
//! It splits a query into words, quoted identifiers, string literals, numbers and operators,
//! and drops comments (`-- …`, `# …`, nested `/* … */`). Where it would have to guess how a
//! given engine version reads something, it refuses instead: backslashes in quoted names,
//! `$`-strings, `{…}` parameters, bytes outside ASCII outside literals, control characters.
//!
//! String literals and quoted identifiers end exactly where ClickHouse's own lexer ends them
//! (`\` escapes the next byte, a doubled quote is a quote), so the boundaries the validator
//! sees are the engine's. Comments are not sent to the engine at all: [`strip_comments`]
//! rebuilds the query from the tokens' text, so the engine never has to agree with us on
//! where a comment ends.

/// What kind of token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A bare word: keyword or identifier (`SELECT`, `events`, `count`).
    Word,
    /// A name in backticks or double quotes, with its text unquoted.
    Quoted(String),
    /// A string literal in single quotes, kept as written.
    Str,
    /// A numeric literal.
    Number,
    /// An operator or punctuation: `(`, `)`, `,`, `.`, `;`, `+`, `<=`, `::`, `->` …
    Punct,
}

/// One token: its kind and where it sits in the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub kind: Kind,
    /// The token's text as written.
    pub text: &'a str,
    /// Byte offset in the query.
    pub start: usize,
}

impl Token<'_> {
    /// Whether this is the bare word `word`, in any letter case.
    pub fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(word)
    }

    /// Whether this is the punctuation `p`.
    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }

    /// The name this token gives, lowercased: a bare word or a quoted identifier.
    pub fn name_lower(&self) -> Option<String> {
        match &self.kind {
            Kind::Word => Some(self.text.to_ascii_lowercase()),
            Kind::Quoted(name) => Some(name.to_ascii_lowercase()),
            _ => None,
        }
    }
}

/// Why the tokenizer gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub message: String,
    pub offset: usize,
}

/// Operators of two or three characters, longest first.
const LONG_PUNCT: &[&str] = &["<=>", "<=", ">=", "!=", "<>", "==", "||", "->", "::"];

/// Single-character operators and punctuation ClickHouse SQL uses in a SELECT.
const SHORT_PUNCT: &[u8] = b"()[],;.+-*/%=<>?:";

/// Splits `query` into tokens, dropping whitespace and comments.
pub(crate) fn tokenize(query: &str) -> Result<Vec<Token<'_>>, LexError> {
    let bytes = query.as_bytes();
    let mut tokens: Vec<Token<'_>> = Vec::new();
    let mut pos = 0;
    let fail = |message: &str, offset: usize| Err(LexError { message: message.to_owned(), offset });
    while pos < bytes.len() {
        let c = bytes[pos];
        let start = pos;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => pos += 1,
            b'-' if bytes.get(pos + 1) == Some(&b'-') => pos = line_end(bytes, pos),
            b'#' => pos = line_end(bytes, pos),
            b'/' if bytes.get(pos + 1) == Some(&b'*') => match block_comment_end(bytes, pos) {
                Some(end) => pos = end,
                None => return fail("a /* comment is not closed", start),
            },
            b'\'' => {
                let Some(end) = quoted_end(bytes, pos, b'\'') else {
                    return fail("a string literal is not closed", start);
                };
                if let Some(prev) = start.checked_sub(1).map(|i| bytes[i])
                    && (prev.is_ascii_alphanumeric() || prev == b'_')
                {
                    return fail("put a space between a name or number and a string literal", start);
                }
                tokens.push(Token { kind: Kind::Str, text: &query[start..end], start });
                pos = end;
            }
            b'`' | b'"' => {
                let Some(end) = quoted_end(bytes, pos, c) else {
                    return fail("a quoted name is not closed", start);
                };
                let inner = &query[start + 1..end - 1];
                if inner.contains('\\') {
                    return fail("escape sequences in quoted names are not supported", start);
                }
                let quote = char::from(c);
                let name = inner.replace(&format!("{quote}{quote}"), &quote.to_string());
                tokens.push(Token { kind: Kind::Quoted(name), text: &query[start..end], start });
                pos = end;
            }
            b'0'..=b'9' => {
                pos = number_end(bytes, pos);
                if bytes.get(pos).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                    return fail("a number runs into a name: separate them or fix the number", start);
                }
                tokens.push(Token { kind: Kind::Number, text: &query[start..pos], start });
            }
            b'.' if bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) && !follows_operand(&tokens) => {
                pos = number_end(bytes, pos);
                if bytes.get(pos).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                    return fail("a number runs into a name: separate them or fix the number", start);
                }
                tokens.push(Token { kind: Kind::Number, text: &query[start..pos], start });
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_') {
                    pos += 1;
                }
                tokens.push(Token { kind: Kind::Word, text: &query[start..pos], start });
            }
            _ => {
                if let Some(op) = LONG_PUNCT.iter().find(|op| bytes[pos..].starts_with(op.as_bytes())) {
                    pos += op.len();
                } else if SHORT_PUNCT.contains(&c) {
                    pos += 1;
                } else {
                    let what = match c {
                        b'$' => "`$` (parameters and $-quoted strings are not supported)",
                        b'{' | b'}' => "`{` or `}` (query parameters are not supported)",
                        b'\\' => "a backslash outside a string literal",
                        0x80.. => "a non-ASCII character outside a string literal",
                        0..=0x1f | 0x7f => "a control character",
                        _ => "a character ClickHouse SQL does not use here",
                    };
                    return fail(&format!("unexpected {what}"), start);
                }
                tokens.push(Token { kind: Kind::Punct, text: &query[start..pos], start });
            }
        }
    }
    Ok(tokens)
}

/// Rebuilds `query` without its comments: the text of every token, separated by what stood
/// between them (whitespace kept as written, each comment replaced by one space).
pub(crate) fn strip_comments(query: &str, tokens: &[Token<'_>]) -> String {
    let mut out = String::with_capacity(query.len());
    let mut last_end = 0;
    for token in tokens {
        let gap = &query[last_end..token.start];
        if !gap.is_empty() {
            if gap.bytes().all(|b| b.is_ascii_whitespace()) {
                out.push_str(gap);
            } else {
                out.push(' ');
            }
        }
        out.push_str(token.text);
        last_end = token.start + token.text.len();
    }
    out
}

/// Where a `--` or `#` comment starting at `pos` ends (after its newline, or at the end).
fn line_end(bytes: &[u8], pos: usize) -> usize {
    bytes[pos..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| pos + i + 1)
}

/// Where a `/* … */` comment starting at `pos` ends; nested comments are counted.
fn block_comment_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = pos;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Where a quoted token starting at `pos` with `quote` ends (one past the closing quote), as
/// ClickHouse's lexer reads it: a backslash escapes the next byte, a doubled quote is a quote.
fn quoted_end(bytes: &[u8], pos: usize, quote: u8) -> Option<usize> {
    let mut i = pos + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Where a number starting at `pos` ends: `0x…` hexadecimal (with an optional fraction and
/// `p` exponent), `0b…` binary, or decimal with an optional fraction and `e` exponent.
fn number_end(bytes: &[u8], pos: usize) -> usize {
    let digits = |mut i: usize, ok: fn(&u8) -> bool| {
        while bytes.get(i).is_some_and(ok) {
            i += 1;
        }
        i
    };
    let exponent = |i: usize, marker: u8| {
        if bytes.get(i).is_some_and(|b| b.to_ascii_lowercase() == marker) {
            let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
            if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
                return digits(i + 1 + sign, u8::is_ascii_digit);
            }
        }
        i
    };
    let prefix = bytes.get(pos + 1).map(u8::to_ascii_lowercase);
    if bytes[pos] == b'0' && prefix == Some(b'x') && bytes.get(pos + 2).is_some_and(u8::is_ascii_hexdigit) {
        let mut i = digits(pos + 2, u8::is_ascii_hexdigit);
        if bytes.get(i) == Some(&b'.') {
            i = digits(i + 1, u8::is_ascii_hexdigit);
        }
        return exponent(i, b'p');
    }
    if bytes[pos] == b'0' && prefix == Some(b'b') && bytes.get(pos + 2).is_some_and(|b| matches!(b, b'0' | b'1')) {
        return digits(pos + 2, |b| matches!(b, b'0' | b'1'));
    }
    let mut i = digits(pos, u8::is_ascii_digit);
    if bytes.get(i) == Some(&b'.') {
        i = digits(i + 1, u8::is_ascii_digit);
    }
    exponent(i, b'e')
}

/// Whether the last token ends an operand, so that a following `.5` is a member access
/// (`t.1`) rather than a number, as ClickHouse reads it.
fn follows_operand(tokens: &[Token<'_>]) -> bool {
    tokens.last().is_some_and(|t| {
        matches!(t.kind, Kind::Word | Kind::Quoted(_) | Kind::Number) || t.is_punct(")") || t.is_punct("]")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(query: &str) -> Vec<String> {
        tokenize(query).expect("tokenizes").iter().map(|t| t.text.to_owned()).collect()
    }

    #[test]
    fn comments_of_every_kind_are_dropped() {
        assert_eq!(texts("SELECT 1 -- FROM salts\n, 2"), ["SELECT", "1", ",", "2"], "-- comment");
        assert_eq!(texts("SELECT 1 # FROM salts\n, 2"), ["SELECT", "1", ",", "2"], "# comment");
        assert_eq!(texts("SELECT /* a /* nested */ FROM salts */ 1"), ["SELECT", "1"], "nested block comment");
        assert_eq!(texts("SELECT 1--x"), ["SELECT", "1"], "comment right after a number");
    }

    #[test]
    fn literals_end_where_clickhouse_ends_them() {
        assert_eq!(texts(r"SELECT 'a\' FROM salts --'"), ["SELECT", r"'a\' FROM salts --'"], "backslash escape");
        assert_eq!(texts("SELECT 'it''s' AS x"), ["SELECT", "'it''s'", "AS", "x"], "doubled quote");
        assert_eq!(texts("SELECT '-- not a comment'"), ["SELECT", "'-- not a comment'"], "comment markers in strings");
        let quoted = tokenize("SELECT `we``ird`, \"dq\"").expect("tokenizes");
        assert_eq!(quoted[1].kind, Kind::Quoted("we`ird".into()), "doubled backtick");
        assert_eq!(quoted[3].kind, Kind::Quoted("dq".into()), "double quotes");
    }

    #[test]
    fn numbers_and_member_access_are_told_apart() {
        assert_eq!(texts("SELECT 1.5e-3, 0x1F, 0b101, .5"), ["SELECT", "1.5e-3", ",", "0x1F", ",", "0b101", ",", ".5"]);
        assert_eq!(texts("SELECT t.1"), ["SELECT", "t", ".", "1"], "tuple element");
        assert_eq!(texts("SELECT a<=b, c::String"), ["SELECT", "a", "<=", "b", ",", "c", "::", "String"]);
    }

    #[test]
    fn ambiguous_input_is_refused() {
        for (query, why) in [
            ("SELECT 'open", "unclosed string"),
            ("SELECT `open", "unclosed quoted name"),
            ("SELECT 1 /* open", "unclosed comment"),
            ("SELECT `sys\\x74em`.one", "escape in a quoted name"),
            ("SELECT $$x$$", "dollar string"),
            ("SELECT {p:String}", "query parameter"),
            ("SELECT 1\u{a0}", "non-ASCII space"),
            ("SELECT x'41'", "hex string literal"),
            ("SELECT 1FROM events", "number running into a word"),
            ("SELECT 1\0", "NUL byte"),
            ("SELECT 1 \\", "backslash"),
        ] {
            assert!(tokenize(query).is_err(), "{why}: {query:?} must be refused");
        }
    }

    #[test]
    fn strip_comments_keeps_everything_else_as_written() {
        let query = "SELECT a, -- note\n  'x -- y' /* c */ FROM events # end";
        let tokens = tokenize(query).expect("tokenizes");
        assert_eq!(strip_comments(query, &tokens), "SELECT a, 'x -- y' FROM events");
    }
}
