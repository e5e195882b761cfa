//! The analyst query validator: the first of two walls around analysts' SQL (the second is
//! the engine: a scope database whose `events` is a filtered view, on a `readonly=1` session
//! with limits).
//!
//! It reads the query with [`super::lexer`] and accepts one `SELECT` (or `WITH … SELECT`) whose
//! every `FROM` and `JOIN` — at any depth: subqueries, `IN (SELECT …)`, `WITH` expressions,
//! comma joins — reads the bare table `events`, a subquery, or a name the query itself defines
//! with `WITH name AS (SELECT …)`. It refuses qualified names of other databases, the right side
//! of `IN` unless it is a list of values or a subquery, functions that reach files, the
//! network, dictionaries or other tables, and `SETTINGS`, `SET`, `INTO`, `FORMAT` and every
//! statement keyword. Where ClickHouse versions could read a construct in two ways it takes
//! the stricter reading (for example, a keyword after `AS` is an alias for the rules that
//! end a `FROM` clause, but still a keyword for the rules that check a table).
//!
//! What the engine receives is the query rebuilt from the tokens without comments, so that it
//! parses exactly what was checked.

use std::collections::BTreeSet;

use super::lexer::{self, Kind, Token};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Deepest nesting of parentheses and brackets accepted.
const MAX_DEPTH: usize = 64;

/// The only table an analyst query reads.
const TABLE: &str = "events";

/// A query that passed [`validate`], rebuilt without comments or a trailing `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedQuery {
    sql: String,
}

impl ValidatedQuery {
    /// The statement to send to the engine.
    pub fn as_str(&self) -> &str {
        &self.sql
    }
}

/// Why an analyst query was refused before reaching the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the query is empty")]
    Empty,
    #[error("the query is {bytes} bytes long; at most {max} are accepted")]
    TooLong { bytes: usize, max: usize },
    #[error("cannot read the query at byte {offset}: {message}")]
    Malformed { message: String, offset: usize },
    #[error("only SELECT queries can run (or WITH … SELECT); found `{found}`")]
    NotSelect { found: String },
    #[error("only one statement can run; remove the `;` and what follows it")]
    MultipleStatements,
    #[error("only the table `events` can be read; found `{found}`")]
    TableNotAllowed { found: String },
    #[error("table functions cannot be used; only the table `events` can be read; found `{name}(…)`")]
    TableFunction { name: String },
    #[error("the function `{name}` is not allowed: it reads files, the network, dictionaries or other tables")]
    FunctionNotAllowed { name: String },
    #[error("{hint}")]
    KeywordNotAllowed { keyword: String, hint: &'static str },
    #[error("other databases cannot be read; found `{found}`")]
    DatabaseNotAllowed { found: String },
    #[error("IN needs a list of values or a subquery over `events`; found `{found}`")]
    InNeedsList { found: String },
    #[error("`{keyword}` cannot be used as a table alias")]
    KeywordAsAlias { keyword: String },
    #[error("the parentheses or brackets do not balance")]
    Unbalanced,
    #[error("the query nests parentheses more than {MAX_DEPTH} deep")]
    TooDeep,
}

/// Checks an analyst's query; `store_database` is the database holding Larder's tables, whose
/// name must not appear as a qualifier.
///
/// # Errors
/// The first [`Rejection`] found.
pub fn validate(query: &str, store_database: &str) -> Result<ValidatedQuery, Rejection> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Rejection::TooLong { bytes: query.len(), max: MAX_QUERY_BYTES });
    }
    let mut tokens =
        lexer::tokenize(query).map_err(|e| Rejection::Malformed { message: e.message, offset: e.offset })?;
    while tokens.last().is_some_and(|t| t.is_punct(";")) {
        tokens.pop();
    }
    if tokens.is_empty() {
        return Err(Rejection::Empty);
    }
    if tokens.iter().any(|t| t.is_punct(";")) {
        return Err(Rejection::MultipleStatements);
    }
    let first = &tokens[0];
    if !(first.is_word("SELECT") || first.is_word("WITH")) {
        return Err(Rejection::NotSelect { found: first.text.to_owned() });
    }
    Walker::new(&tokens, store_database).walk()?;
    Ok(ValidatedQuery { sql: lexer::strip_comments(query, &tokens) })
}

/// Keywords refused wherever they appear, with what to tell the analyst.
fn denied_keyword(word: &str) -> Option<&'static str> {
    const STATEMENT: &str =
        "only SELECT queries can run: statements that change data, schema, settings or the server are refused";
    Some(match word {
        "settings" | "set" => {
            "`SETTINGS` and `SET` are not allowed: the limits and settings of analyst queries are fixed"
        }
        "format" => "`FORMAT` is not allowed in the query: choose the format with the format option",
        "into" | "outfile" => "`INTO OUTFILE` is not allowed: the result comes back in the response",
        "insert" | "alter" | "drop" | "create" | "attach" | "detach" | "rename" | "truncate" | "optimize" | "kill"
        | "grant" | "revoke" | "use" | "show" | "describe" | "explain" | "exchange" | "undrop" | "delete"
        | "update" | "backup" | "restore" | "watch" | "move" | "check" | "parallel" => STATEMENT,
        _ => return None,
    })
}

/// Function names refused, compared lowercased: exact names…
const DENIED_FUNCTIONS: &[&str] = &[
    "url",
    "urlcluster",
    "oss",
    "cosn",
    "gcs",
    "demangle",
    "trap",
    "loop",
    "hascolumnintable",
    "modelevaluate",
    "showcertificate",
    "globalvariable",
    "getscalar",
];

/// …and prefixes: every function whose lowercased name starts with one of these.
const DENIED_FUNCTION_PREFIXES: &[&str] = &[
    // files, the network, other engines
    "file",
    "remote",
    "cluster",
    "s3",
    "hdfs",
    "azure",
    "iceberg",
    "deltalake",
    "hudi",
    "paimon",
    "hive",
    "mysql",
    "postgres",
    "sqlite",
    "mongo",
    "redis",
    "odbc",
    "jdbc",
    "executable",
    "arrowflight",
    "ytsaurus",
    "prometheus",
    "timeseries",
    // other tables, dictionaries and generated tables
    "merge",
    "view",
    "input",
    "numbers",
    "zeros",
    "generaterandom",
    "fuzz",
    "dict",
    "joinget",
    "system",
    // `IN` in function form, which also takes a table name
    "notin",
    "nullin",
    "notnullin",
    "globalin",
    "globalnotin",
    "globalnullin",
    "globalnotnullin",
    "inignoreset",
    // the server, its files and its internals
    "addressto",
    "filesystem",
    "catboost",
    "getmacro",
    "getserver",
    "getclient",
    "getmergetree",
    "sleep",
    "__",
];

fn is_denied_function(name: &str) -> bool {
    DENIED_FUNCTIONS.contains(&name) || DENIED_FUNCTION_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Names of databases that are refused anywhere, lowercased.
const DENIED_DATABASES: &[&str] = &["system", "information_schema"];

/// Prefixes of database names refused as qualifiers: scope databases (this store's and any
/// other's), the engine's temporary tables.
const DENIED_DATABASE_PREFIXES: &[&str] = &["larder_scope_", "larder_site_", "_temporary"];

/// Functions whose arguments use `FROM` as a separator (`EXTRACT(DAY FROM t)`): inside them
/// `FROM` does not start a table clause. ClickHouse can read no table clause inside a
/// function's parentheses anyway; subqueries in them open a query frame of their own.
const FROM_SYNTAX_FUNCTIONS: &[&str] = &["extract", "trim", "substring", "substr", "overlay"];

/// Which clause of a query the walker is in; only what the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clause {
    /// The select list, `WITH`, or anything that is not a table list.
    Other,
    /// A table list: a comma starts another table.
    From,
    /// `ARRAY JOIN …` or `USING a, b` without parentheses: commas separate expressions.
    ExpressionList,
    /// `ORDER BY`, where `WITH FILL FROM` is an expression.
    OrderBy,
}

/// An open parenthesis or bracket (or the whole query).
#[derive(Debug)]
struct Frame {
    /// The closing token expected.
    close: &'static str,
    clause: Clause,
    /// Inside the right side of `IN`: only values and function calls.
    is_value_list: bool,
    /// The function this frame holds the arguments of, lowercased.
    function: Option<String>,
}

struct Walker<'t, 'a> {
    tokens: &'t [Token<'a>],
    store_database: String,
    /// Names defined by `WITH name AS (SELECT …)`; `FROM name` reads that subquery.
    ctes: BTreeSet<String>,
    frames: Vec<Frame>,
}

impl<'t, 'a> Walker<'t, 'a> {
    fn new(tokens: &'t [Token<'a>], store_database: &str) -> Self {
        let ctes = tokens
            .windows(4)
            .filter(|w| w[0].kind == Kind::Word && w[1].is_word("AS") && w[2].is_punct("(") && starts_query(&w[3]))
            .map(|w| w[0].text.to_owned())
            .collect();
        Self {
            tokens,
            store_database: store_database.to_ascii_lowercase(),
            ctes,
            frames: vec![Frame { close: "", clause: Clause::Other, is_value_list: false, function: None }],
        }
    }

    fn at(&self, i: usize) -> Option<&'t Token<'a>> {
        self.tokens.get(i)
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the query's own frame is never popped")
    }

    /// Whether token `i` stands where ClickHouse may read a name rather than a keyword: right
    /// after `AS` or after a `.`.
    fn is_name_position(&self, i: usize) -> bool {
        i > 0 && (self.tokens[i - 1].is_word("AS") || self.tokens[i - 1].is_punct("."))
    }

    fn walk(mut self) -> Result<(), Rejection> {
        for i in 0..self.tokens.len() {
            let token = &self.tokens[i];
            match &token.kind {
                Kind::Word | Kind::Quoted(_) => self.name(i)?,
                Kind::Punct => self.punct(i)?,
                Kind::Str | Kind::Number => {}
            }
        }
        if self.frames.len() == 1 { Ok(()) } else { Err(Rejection::Unbalanced) }
    }

    /// Rules for a bare word or a quoted name at `i`.
    fn name(&mut self, i: usize) -> Result<(), Rejection> {
        let tokens = self.tokens;
        let token = &tokens[i];
        let lower = token.name_lower().unwrap_or_default();
        let next = self.at(i + 1);
        let is_call = next.is_some_and(|n| n.is_punct("("));
        let is_qualifier = next.is_some_and(|n| n.is_punct(".")) && !(i > 0 && tokens[i - 1].is_punct("."));
        if DENIED_DATABASES.contains(&lower.as_str()) {
            return Err(Rejection::DatabaseNotAllowed { found: self.dotted(i) });
        }
        if is_qualifier
            && (lower == self.store_database
                || lower == "default"
                || DENIED_DATABASE_PREFIXES.iter().any(|p| lower.starts_with(p)))
        {
            return Err(Rejection::DatabaseNotAllowed { found: self.dotted(i) });
        }
        if is_call && (is_denied_function(&lower) || (i > 0 && tokens[i - 1].is_punct("."))) {
            return Err(Rejection::FunctionNotAllowed { name: self.dotted_back(i) });
        }
        let is_literal_word =
            token.kind == Kind::Word && matches!(lower.as_str(), "null" | "true" | "false" | "inf" | "nan");
        if self.frames.last().is_some_and(|f| f.is_value_list)
            && !is_call
            && !self.is_name_position(i)
            && !is_literal_word
        {
            return Err(Rejection::InNeedsList { found: self.dotted(i) });
        }
        if token.kind != Kind::Word {
            return Ok(());
        }
        if let Some(hint) = denied_keyword(&lower) {
            // `format(…)` is the string-formatting function, not the clause.
            if !(lower == "format" && is_call) {
                return Err(Rejection::KeywordNotAllowed { keyword: token.text.to_owned(), hint });
            }
        }
        let is_name_position = self.is_name_position(i);
        match lower.as_str() {
            "from" => self.from(i),
            "join" => self.join(i, is_name_position),
            "in" => self.in_operator(i),
            "using" if !is_name_position && !next.is_some_and(|n| n.is_punct("(")) => {
                // `USING a, b` is one expression list (ClickHouse reads it greedily); with
                // parentheses, a comma after them starts another table.
                self.frame().clause = Clause::ExpressionList;
                Ok(())
            }
            "where" | "prewhere" | "group" | "having" | "order" | "limit" | "union" if !is_name_position => {
                if next.is_some_and(|n| n.is_punct(",")) {
                    return Err(Rejection::KeywordAsAlias { keyword: token.text.to_owned() });
                }
                self.frame().clause = if lower == "order" { Clause::OrderBy } else { Clause::Other };
                Ok(())
            }
            "select" if !is_name_position => {
                // In a table list, SELECT starts a new query only after a set operation; anything
                // else may be ClickHouse reading it as an alias, and the table list goes on.
                let after_set_operation = i > 1
                    && ["UNION", "ALL", "DISTINCT", "EXCEPT", "INTERSECT"].iter().any(|w| tokens[i - 1].is_word(w))
                    && !tokens[i - 2].is_word("AS");
                let clause = self.frame().clause;
                if !matches!(clause, Clause::From | Clause::ExpressionList) || after_set_operation {
                    self.frame().clause = Clause::Other;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `FROM` at `i`: the table clause starts, unless it is part of a function's syntax or of
    /// `WITH FILL FROM`.
    fn from(&mut self, i: usize) -> Result<(), Rejection> {
        let frame = self.frames.last().expect("frame");
        if frame.function.as_deref().is_some_and(|f| FROM_SYNTAX_FUNCTIONS.contains(&f)) {
            return Ok(());
        }
        let is_fill = frame.clause == Clause::OrderBy
            && i > 1
            && self.tokens[i - 1].is_word("FILL")
            && self.tokens[i - 2].is_word("WITH");
        if is_fill {
            return Ok(());
        }
        self.check_table(i + 1)?;
        self.frame().clause = Clause::From;
        Ok(())
    }

    /// `JOIN` at `i`: `ARRAY JOIN` takes expressions, every other join a table.
    fn join(&mut self, i: usize, is_name_position: bool) -> Result<(), Rejection> {
        let is_array_join =
            !is_name_position && i > 0 && self.tokens[i - 1].is_word("ARRAY") && !self.is_name_position(i - 1);
        if is_array_join {
            self.frame().clause = Clause::ExpressionList;
            return Ok(());
        }
        self.check_table(i + 1)?;
        self.frame().clause = Clause::From;
        Ok(())
    }

    /// `IN` at `i`: what follows must be a parenthesised list or subquery, an array, or a
    /// literal; a name there would be read as a table.
    fn in_operator(&mut self, i: usize) -> Result<(), Rejection> {
        match self.at(i + 1) {
            Some(next) if next.is_punct("(") || next.is_punct("[") => Ok(()),
            Some(next) if matches!(next.kind, Kind::Str | Kind::Number) => Ok(()),
            Some(_) => Err(Rejection::InNeedsList { found: self.dotted(i + 1) }),
            None => Err(Rejection::InNeedsList { found: String::new() }),
        }
    }

    /// Checks the table expression starting at `i` (after `FROM`, `JOIN` or a comma of a table
    /// list): `events`, a name defined by `WITH … AS (SELECT …)`, or `(SELECT …)`.
    fn check_table(&self, i: usize) -> Result<(), Rejection> {
        let Some(token) = self.at(i) else {
            return Err(Rejection::TableNotAllowed { found: String::new() });
        };
        let next = self.at(i + 1);
        let is_plain_name = token.kind == Kind::Word
            && (token.text == TABLE || self.ctes.contains(token.text))
            && !next.is_some_and(|n| n.is_punct(".") || n.is_punct("("));
        if is_plain_name {
            return Ok(());
        }
        if token.is_punct("(") && next.is_some_and(starts_query) {
            return Ok(());
        }
        if matches!(token.kind, Kind::Word | Kind::Quoted(_)) && next.is_some_and(|n| n.is_punct("(")) {
            return Err(Rejection::TableFunction { name: token.name_lower().unwrap_or_default() });
        }
        Err(Rejection::TableNotAllowed { found: self.dotted(i) })
    }

    /// Rules for punctuation at `i`: frames open and close, commas of table lists.
    fn punct(&mut self, i: usize) -> Result<(), Rejection> {
        let tokens = self.tokens;
        let token = &tokens[i];
        match token.text {
            "(" | "[" => {
                if self.frames.len() > MAX_DEPTH {
                    return Err(Rejection::TooDeep);
                }
                let next = self.at(i + 1);
                if token.text == "(" && next.is_some_and(|n| n.is_word("DESC")) {
                    return Err(Rejection::KeywordNotAllowed {
                        keyword: "DESC".into(),
                        hint: "only SELECT queries can run: DESCRIBE is refused",
                    });
                }
                let prev = i.checked_sub(1).map(|p| &tokens[p]);
                let is_query = token.text == "(" && next.is_some_and(starts_query);
                let follows_in = prev.is_some_and(|p| p.is_word("IN"));
                let inherited = self.frames.last().is_some_and(|f| f.is_value_list);
                let function = prev
                    .filter(|p| !is_query && token.text == "(" && matches!(p.kind, Kind::Word | Kind::Quoted(_)))
                    .and_then(Token::name_lower);
                self.frames.push(Frame {
                    close: if token.text == "(" { ")" } else { "]" },
                    clause: Clause::Other,
                    is_value_list: !is_query && (follows_in || inherited),
                    function,
                });
                Ok(())
            }
            ")" | "]" => {
                if self.frames.len() == 1 || self.frame().close != token.text {
                    return Err(Rejection::Unbalanced);
                }
                self.frames.pop();
                Ok(())
            }
            "," if self.frame().clause == Clause::From => self.check_table(i + 1),
            _ => Ok(()),
        }
    }

    /// The dotted name starting at `i` as written (`system.tables`, `` `larder`.`salts` ``).
    fn dotted(&self, i: usize) -> String {
        let mut out = String::new();
        let mut j = i;
        while let Some(token) = self.at(j) {
            out.push_str(&display_name(token));
            match (self.at(j + 1), self.at(j + 2)) {
                (Some(dot), Some(part)) if dot.is_punct(".") && matches!(part.kind, Kind::Word | Kind::Quoted(_)) => {
                    out.push('.');
                    j += 2;
                }
                _ => break,
            }
        }
        out
    }

    /// The dotted name ending at `i` (`x.file` for a call of `file` qualified by `x`).
    fn dotted_back(&self, i: usize) -> String {
        let mut start = i;
        while start >= 2 && self.tokens[start - 1].is_punct(".") {
            start -= 2;
        }
        let parts: Vec<String> = (start..=i).step_by(2).map(|j| display_name(&self.tokens[j])).collect();
        parts.join(".")
    }
}

/// A name as the error messages show it: unquoted.
fn display_name(token: &Token<'_>) -> String {
    match &token.kind {
        Kind::Quoted(name) => name.clone(),
        _ => token.text.to_owned(),
    }
}

/// Whether a token opens a query inside parentheses: `(SELECT`, `(WITH`, or ClickHouse's
/// `(FROM t SELECT …)`.
fn starts_query(token: &Token<'_>) -> bool {
    token.is_word("SELECT") || token.is_word("WITH") || token.is_word("FROM")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<ValidatedQuery, Rejection> {
        validate(query, "larder")
    }

    #[test]
    fn analysts_queries_pass() {
        for query in [
            "SELECT count() FROM events",
            "select pathname, count() AS n from events where name = 'pageview' group by pathname order by n desc limit 10",
            "SELECT site, uniq(visitor_id) FROM events GROUP BY site WITH TOTALS",
            "SELECT * FROM (SELECT visitor_id, count() AS c FROM events GROUP BY visitor_id) WHERE c > 1",
            "SELECT count() FROM events WHERE visitor_id IN (SELECT visitor_id FROM events WHERE name = 'purchase')",
            "SELECT count() FROM events WHERE name IN ('pageview', 'purchase') AND country NOT IN ('DE')",
            "SELECT count() FROM events WHERE toDate(timestamp) IN (toDate('2026-01-01'), toDate('2026-01-02'))",
            "WITH (SELECT count() FROM events) AS total SELECT name, count() / total FROM events GROUP BY name",
            "WITH buyers AS (SELECT visitor_id FROM events WHERE name = 'purchase') SELECT count() FROM buyers",
            "SELECT i.name, sum(i.quantity) FROM events ARRAY JOIN items AS i GROUP BY i.name",
            "SELECT n, p FROM events ARRAY JOIN items.name AS n, items.price AS p",
            "SELECT props.key, props.value FROM events LEFT ARRAY JOIN props",
            "SELECT a.site FROM events AS a INNER JOIN (SELECT site FROM events) AS b USING (site)",
            "SELECT a.site FROM events AS a ALL LEFT JOIN events AS b ON a.visitor_id = b.visitor_id",
            "SELECT count() FROM events AS a, events AS b",
            "SELECT EXTRACT(DAY FROM timestamp), trim(BOTH ' ' FROM pathname), substring(pathname FROM 2) FROM events",
            "SELECT toDate(timestamp) AS d, count() FROM events GROUP BY d ORDER BY d WITH FILL FROM toDate('2026-01-01') TO toDate('2026-02-01')",
            "SELECT format('{} {}', site, name), `pathname`, \"country\" FROM events",
            "SELECT 1 FROM events UNION ALL SELECT 2 FROM events",
            "SELECT arrayMap(x -> x * 2, [1, 2, 3]), t.1 FROM (SELECT tuple(1, 2) AS t FROM events)",
            "SELECT count() FROM events -- the total\n;",
            "SELECT count() FROM events /* all */ ;;",
            "SELECT deltaSum(visitor_id), URLHierarchy(pathname) FROM events",
        ] {
            assert!(check(query).is_ok(), "{query}: {:?}", check(query));
        }
    }

    #[test]
    fn the_engine_receives_the_query_without_comments() {
        let query = check("SELECT count() -- FROM salts\nFROM events /* a */;").expect("valid");
        assert_eq!(query.as_str(), "SELECT count() FROM events");
    }

    #[test]
    fn escapes_are_refused_with_the_reason() {
        let table = |found: &str| Rejection::TableNotAllowed { found: found.into() };
        let database = |found: &str| Rejection::DatabaseNotAllowed { found: found.into() };
        let function = |name: &str| Rejection::FunctionNotAllowed { name: name.into() };
        let keyword = |query: &str| match check(query) {
            Err(Rejection::KeywordNotAllowed { .. }) => true,
            other => panic!("{query}: expected a refused keyword, got {other:?}"),
        };
        for (query, want, why) in [
            ("SELECT * FROM larder.events", table("larder.events"), "Larder's own table"),
            ("SELECT * FROM default.events", table("default.events"), "default database"),
            ("SELECT * FROM `larder`.`salts`", table("larder.salts"), "backticks"),
            ("SELECT * FROM \"larder\".\"users\"", table("larder.users"), "double quotes"),
            ("SELECT * FROM `events`", table("events"), "quoted events is not the bare table"),
            ("SELECT * FROM larder_scope_0123.events", table("larder_scope_0123.events"), "another scope"),
            ("SELECT * FROM system.tables", table("system.tables"), "system table"),
            ("SELECT * FROM SyStEm.one", table("SyStEm.one"), "system in other casing"),
            ("SELECT * FROM salts", table("salts"), "salts by name"),
            ("SELECT * FROM api_tokens", table("api_tokens"), "tokens"),
            ("SELECT * FROM events, larder.salts", table("larder.salts"), "comma join"),
            ("SELECT * FROM events AS where, t.x", table("t.x"), "keyword alias then comma join"),
            ("SELECT * FROM events window, t.x", table("t.x"), "implicit keyword alias then comma join"),
            ("SELECT * FROM events SAMPLE 1 OFFSET 0, t.x", table("t.x"), "comma join after SAMPLE OFFSET"),
            ("SELECT * FROM events select, t.x", table("t.x"), "select as alias"),
            ("SELECT * FROM events AS array JOIN t.x", table("t.x"), "array as alias"),
            ("SELECT * FROM events JOIN events USING (site), t.x", table("t.x"), "comma after USING (…)"),
            ("SELECT * FROM events ARRAY JOIN items AS i JOIN t.x ON 1", table("t.x"), "join after array join"),
            ("SELECT * FROM events WHERE 1 IN (SELECT 1 FROM system.one)", table("system.one"), "IN subquery"),
            ("WITH (SELECT any(salt) FROM salts) AS x SELECT x", table("salts"), "WITH expression"),
            ("SELECT (FROM t.salts SELECT 1)", table("t.salts"), "FROM-first subquery"),
            ("SELECT * FROM (SELECT * FROM larder.salts)", table("larder.salts"), "subquery"),
            ("SELECT * FROM file('/etc/passwd')", Rejection::TableFunction { name: "file".into() }, "file()"),
            ("SELECT * FROM events(1)", Rejection::TableFunction { name: "events".into() }, "events()"),
            ("SELECT * FROM (events)", table("("), "parenthesised table"),
            ("SELECT file('/etc/passwd')", function("file"), "scalar file()"),
            ("SELECT * FROM events WHERE 1 = url ('http://x')", function("url"), "url() with a space"),
            ("SELECT remote('h', 'db', 't')", function("remote"), "remote()"),
            ("SELECT `remoteSecure`('h')", function("remoteSecure"), "quoted function name"),
            ("SELECT S3('x')", function("S3"), "s3() in capitals"),
            ("SELECT merge('larder', '.*')", function("merge"), "merge()"),
            ("SELECT joinGet('larder.salts', 'salt', 1)", function("joinGet"), "joinGet"),
            ("SELECT dictGetString('d', 'a', 1)", function("dictGetString"), "dictGet*"),
            ("SELECT hasColumnInTable('larder', 'salts', 'salt')", function("hasColumnInTable"), "schema probe"),
            ("SELECT clusterAllReplicas('c', 'system.one')", function("clusterAllReplicas"), "cluster*"),
            ("SELECT sleepEachRow(1) FROM events", function("sleepEachRow"), "sleep"),
            ("SELECT notIn(1, salts)", function("notIn"), "IN in function form"),
            ("SELECT * FROM events WHERE site IN salts", Rejection::InNeedsList { found: "salts".into() }, "IN table"),
            (
                "SELECT * FROM events WHERE site IN (salts)",
                Rejection::InNeedsList { found: "salts".into() },
                "IN (table)",
            ),
            (
                "SELECT * FROM events WHERE site IN t.salts",
                Rejection::InNeedsList { found: "t.salts".into() },
                "IN db.table",
            ),
            ("SELECT in(site, salts) FROM events", Rejection::InNeedsList { found: "site".into() }, "in()"),
            ("SELECT larder.salts.salt FROM events", database("larder.salts.salt"), "qualified column"),
            ("SELECT 1 FROM events WHERE `system`.`one`.dummy = 0", database("system.one.dummy"), "quoted system"),
            ("SELECT 1 /* */ FROM larder.salts", table("larder.salts"), "block comment hiding nothing"),
            ("SELECT 1 --\nFROM system.one", table("system.one"), "line comment before FROM"),
            ("SELECT 1 #\nFROM system.one", table("system.one"), "hash comment before FROM"),
            ("SELECT 1; DROP TABLE events", Rejection::MultipleStatements, "two statements"),
            ("SELECT 1 --x\n; SELECT 2", Rejection::MultipleStatements, "two statements around a comment"),
            ("DROP TABLE events", Rejection::NotSelect { found: "DROP".into() }, "DROP"),
            ("INSERT INTO events (site) VALUES ('x')", Rejection::NotSelect { found: "INSERT".into() }, "INSERT"),
            ("KILL QUERY WHERE 1", Rejection::NotSelect { found: "KILL".into() }, "KILL"),
            ("SET readonly = 0", Rejection::NotSelect { found: "SET".into() }, "SET"),
            ("/* x */ OPTIMIZE TABLE events", Rejection::NotSelect { found: "OPTIMIZE".into() }, "OPTIMIZE"),
            ("SEL/**/ECT 1", Rejection::NotSelect { found: "SEL".into() }, "keyword split by a comment"),
            ("", Rejection::Empty, "empty"),
            ("-- nothing", Rejection::Empty, "only a comment"),
            ("SELECT (1", Rejection::Unbalanced, "unbalanced"),
            ("SELECT [1)", Rejection::Unbalanced, "mismatched"),
            ("SELECT * FROM events AS e where, x", Rejection::KeywordAsAlias { keyword: "where".into() }, "where,"),
        ] {
            assert_eq!(check(query), Err(want), "{why}: {query}");
        }
        for query in [
            "SELECT 1 SETTINGS readonly = 0",
            "SELECT * FROM events SETTINGS max_result_rows = 0",
            "SELECT 1 INTO OUTFILE '/tmp/x'",
            "SELECT * FROM events FORMAT JSON",
            "SELECT 1 FROM events PARALLEL WITH DROP TABLE x",
            "SELECT * FROM events WHERE (DESC salts) = 1",
            "SELECT * FROM events AS format",
        ] {
            assert!(keyword(query), "{query}");
        }
        assert!(matches!(check(&"SELECT 1 ".repeat(10_000)), Err(Rejection::TooLong { .. })), "too long");
        let deep = format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(check(&deep), Err(Rejection::TooDeep), "too deep");
    }

    #[test]
    fn messages_name_what_was_refused() {
        let message = check("SELECT * FROM system.tables").expect_err("refused").to_string();
        assert_eq!(message, "only the table `events` can be read; found `system.tables`");
        let message = check("SELECT 1 SETTINGS readonly=0").expect_err("refused").to_string();
        assert!(message.contains("SETTINGS"), "{message}");
    }

    #[test]
    fn the_validator_never_panics_on_arbitrary_input() {
        let pieces = [
            "SELECT", "FROM", "events", "(", ")", "[", "]", ",", ".", "'", "`", "\"", "--", "/*", "*/", "#", "IN",
            "JOIN", "ARRAY", "AS", "WITH", "\\", ";", "1", "1e", "0x", "system", "\n", " ", "é", "$",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut query = String::new();
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                query.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let _ = check(&query);
        }
    }
}
