"""A warehouse's error text made safe to show, and pointed at the user's own SQL line.

One scrubber for every engine's quoting. A failed cast quotes the cell, and each engine does
it its own way:

    PostgreSQL  invalid input syntax for type integer: "jane@example.com"
    DuckDB      Could not convert string 'jane@example.com' to INT32
                invalid date field format: "jane@example.com", expected format is (YYYY-MM-DD)
    MariaDB     Incorrect integer value: 'jane@example.com' for column ``.``.`n` at row 0
    SQLite      bad JSON path: 'jane@example.com'
    Snowflake   100038 (22018): Numeric value 'jane@example.com' is not recognized
    BigQuery    Bad int64 value: jane@example.com          (not quoted at all)

Quoted text is kept only when it is an identifier the user needs (after `column`, `relation`,
`table`, `near` ...) and looks like one, or a server-side name of the connection, which is no
customer's data either (its host, database, role or user):

    PostgreSQL  connection to server at "db.example.com" (10.0.0.5), port 5432 failed:
                FATAL:  database "analytics" does not exist   /  role "capisync" does not exist
    MariaDB     (1049, "Unknown database 'analytics'")
                (1045, "Access denied for user 'capisync'@'10.0.0.7' (using password: YES)")

Everything else quoted everything else quoted becomes `'…'`, and so does an
unquoted value after `value:`. Only the headline of a message is kept (plus hint lines that
name identifiers): the lines after it echo the SQL or the raw value (DuckDB prints the failing
value alone on the next line, PostgreSQL's DETAIL repeats the row). As a last net, anything
shaped like an e-mail address or a run of 7+ digits (a phone, a date of birth) is scrubbed.
"""

from __future__ import annotations

import re

SCRUBBED = "…"
QUOTES = "'\"`"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*){0,3}")
_PUNCTUATION = re.compile(r"[()\[\]{},;.*+\-/<>=!|&%^~:]{1,3}|<EOF>")
# words after which a quoted name is an identifier, not a value
_NAME_CONTEXT = re.compile(
    r"(?i)\b(?:columns?|relation|table|schema|database|catalog|function|procedure|type|"
    r"constraint|index|view|sequence|key|identifier|object|bindings:|reference)\s*$"
)
# words after which a quoted name is a server-side account, database or host; a login name
# may hold a dash or a dot (`capisync-ro`), a host is a name or an IPv4/IPv6 address
_ACCOUNT_CONTEXT = re.compile(r"(?i)\b(?:database|role|user)\s*$")
_ACCOUNT = re.compile(r"[A-Za-z_][A-Za-z0-9_$.\-]{0,127}")
_HOST_CONTEXT = re.compile(r"(?i)(?:\bserver (?:at|on)|\bhost(?: name)?)\s*$|['\"`]@$")
_HOST = re.compile(r"[A-Za-z0-9_.%\-]{1,253}|\[?[0-9A-Fa-f:.%]{2,64}\]?")
# the address PostgreSQL adds after a host name it resolved: "db.example.com" (10.0.0.5)
_HOST_ADDRESS = re.compile(r"(\x00\d+\x00[\"'`] \()([0-9A-Fa-f.:]{2,45})\)")
# a syntax error's token; SQLite's "JSON path error near 'x'" quotes a value instead
_TOKEN_CONTEXT = re.compile(r"(?i)(?<!path error )\b(?:near|unexpected)\s*$")
_LIST_GLUE = re.compile(r"^\s*,\s*$")
# MySQL/MariaDB name the clause: Unknown column 'x' in 'field list'
_CLAUSES = frozenset(
    {"field list", "where clause", "on clause", "order clause", "group statement", "select"}
    | {"having clause", "from clause", "update", "delete", "in/all/any subquery"}
)
_UNQUOTED_VALUE = re.compile(
    r"(?i)(\bvalue\)?:[ \t]*|,[ \t]*value[ \t]+)(?![\s" + QUOTES + SCRUBBED + r"])([^;\n]+?)"
    r"(?=\s+at \[\d|;|$|\n)"
)
_EMAIL = re.compile(r"[^\s@'\"`<>(),;:]+@[^\s@'\"`<>(),;:]+\.[A-Za-z]{2,}")
# a digit run is scrubbed unless it is an engine's error code or a query ID (a UUID)
_DIGIT_RUN = re.compile(
    r"(?P<keep>^\d{6} \([0-9A-Z]{5}\):|\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b)"
    r"|\+?\d(?:[\s().\-/]{0,2}\d){6,}"
)
_CONTINUED = re.compile(r"(?::|\bat position \d+)\s*$")  # Snowflake: the detail is on line 2
_HINT_LINE = re.compile(r"^(?:HINT:|Candidate bindings:|Did you mean)")
_SQL_ECHO = re.compile(r"^\s*(?:LINE \d+:|\^)")


def scrub_message(message: object) -> str:
    """`message` (an exception or text) without customer data: the headline, quoted values
    scrubbed, identifiers kept. Never raises."""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    if not lines:
        return type(message).__name__ if isinstance(message, BaseException) else ""
    kept = [lines[0]]
    if _CONTINUED.search(lines[0]) and len(lines) > 1:  # Snowflake: "SQL compilation error:"
        kept.append(lines[1])
    kept += [line for line in lines[len(kept) :] if _HINT_LINE.match(line.strip())]
    return "\n".join(_scrub_line(line.strip()) for line in kept)


def _scrub_line(line: str) -> str:
    out: list[str] = []
    hosts: list[str] = []  # kept hosts, out of the digit net's way until the end
    i, last_kept = 0, -1
    while i < len(line):
        quote = line[i]
        if quote not in QUOTES or _is_apostrophe(line, i):
            out.append(quote)
            i += 1
            continue
        end = _closing(line, i)
        content = line[i + 1 : end]
        prefix = line[:i]
        glue = last_kept >= 0 and _LIST_GLUE.match(line[last_kept:i]) is not None
        if end < len(line) and _HOST_CONTEXT.search(prefix) and _HOST.fullmatch(content):
            out.append(f"{quote}\x00{len(hosts)}\x00{quote}")
            hosts.append(content)
            last_kept = end + 1
            i = end + 1
            continue
        if end < len(line) and _is_name(prefix, content, glue):
            out.append(line[i : end + 1])
            last_kept = end + 1
            i = end + 1
            continue
        # a value: it may hold the quote character itself unescaped (PostgreSQL does not
        # escape), so it runs to the last such quote of the line
        last = line.rfind(quote)
        end = last if last > i else len(line)
        out.append(f"{quote}{SCRUBBED}{quote}")
        i = end + 1
        if _unbalanced(line[i:]):  # the value cut through a quoted name: drop the rest
            break
    text = "".join(out)

    def keep_address(match: re.Match[str]) -> str:  # `server at "db.host" (10.0.0.5)`
        hosts.append(match.group(2))
        return f"{match.group(1)}\x00{len(hosts) - 1}\x00)"

    text = _HOST_ADDRESS.sub(keep_address, text)
    text = _UNQUOTED_VALUE.sub(lambda m: m.group(1) + SCRUBBED, text)
    text = _EMAIL.sub(SCRUBBED, text)
    text = _DIGIT_RUN.sub(lambda m: m.group("keep") or SCRUBBED, text)
    return re.sub("\x00(\\d+)\x00", lambda m: hosts[int(m.group(1))], text)


def _is_apostrophe(line: str, i: int) -> bool:
    """`doesn't`: a single quote between two letters quotes nothing."""
    return (
        line[i] == "'" and 0 < i < len(line) - 1 and line[i - 1].isalpha() and line[i + 1].isalpha()
    )


def _unbalanced(rest: str) -> bool:
    quotes = [c for i, c in enumerate(rest) if c in QUOTES and not _is_apostrophe(rest, i)]
    return any(quotes.count(q) % 2 for q in QUOTES)


def _closing(line: str, start: int) -> int:
    """Index of the quote closing the one at `start` (a doubled quote is an escaped one)."""
    quote, j = line[start], start + 1
    while j < len(line):
        if line[j] == quote:
            if j + 1 < len(line) and line[j + 1] == quote:
                j += 2
                continue
            return j
        j += 1
    return len(line)


def _is_name(prefix: str, content: str, after_list_item: bool) -> bool:
    if content.lower() in _CLAUSES:
        return True
    if _TOKEN_CONTEXT.search(prefix):
        return bool(_IDENTIFIER.fullmatch(content) or _PUNCTUATION.fullmatch(content))
    if (_NAME_CONTEXT.search(prefix) or after_list_item) and _IDENTIFIER.fullmatch(content):
        return True
    if _ACCOUNT_CONTEXT.search(prefix):
        return _ACCOUNT.fullmatch(content) is not None
    return False


# -- where in the user's SQL --------------------------------------------------------------

MODEL_PREFIX = "SELECT * FROM ("
MODEL_SUFFIX = "\n) AS capisync_model"


def model_body(sql: str) -> str:
    """The model as it goes inside the wrapper: trailing blanks and semicolons removed, the
    start untouched so that its line numbers are the file's."""
    body = sql.rstrip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    return body


def wrap_model(sql: str, limit: int | None = None) -> str:
    """The model as a subquery, so a LIMIT or a column probe never edits the user's SQL. The
    model starts on the wrapper's first line: line n of the query is line n of the model."""
    wrapped = f"{MODEL_PREFIX}{model_body(sql)}{MODEL_SUFFIX}"
    return wrapped if limit is None else f"{wrapped} LIMIT {int(limit)}"


_LINE_PATTERNS = (
    re.compile(r"^LINE (\d+):", re.MULTILINE),  # PostgreSQL, DuckDB
    re.compile(r"\bat line (\d+)\b"),  # MySQL, MariaDB
    re.compile(r"\bline (\d+) at position \d+"),  # Snowflake
    re.compile(r"\bat \[(\d+):\d+\]"),  # BigQuery
)


_POSITION_PHRASES = (
    re.compile(r" ?\bat line \d+\b"),
    re.compile(r" ?\bat \[\d+:\d+\]"),
    re.compile(r"\bline \d+ at position \d+ ?"),
)


def model_line(sql: str, text: str, position: int | None = None) -> tuple[int, bool] | None:
    """The line of the model (1-based) an error points at, and whether it points past the
    model's end (into the wrapper: an unfinished clause or a trailing comma). The engine's
    own line reference in `text` comes first (`LINE n:`, `at line n`, ...: the wrapper adds no
    line before the model, and neither does the DECLARE of a server-side cursor); else
    `position`, a 1-based character offset into the wrapped query (PostgreSQL's
    statement_position). None when the engine gives neither (SQLite)."""
    body = model_body(sql)
    lines = body.count("\n") + 1
    for pattern in _LINE_PATTERNS:
        match = pattern.search(text)
        if match:
            line = int(match.group(1))
            return (lines, True) if line > lines else (max(line, 1), False)
    if position is not None and position > 0:
        offset = position - 1 - len(MODEL_PREFIX)
        if offset >= len(body):
            return lines, True
        return body[: max(offset, 0)].count("\n") + 1, False
    return None


def describe_model_failure(
    sql: str, origin: str, error: object, position: int | None = None
) -> tuple[str, int | None]:
    """A model failure as one safe message that names the user's file and line, and the line."""
    text = str(error)
    where = model_line(sql, text, position)
    message = scrub_message(error)
    if where is None:
        return f"{message} (in {origin})", None
    line, past_end = where
    for phrase in _POSITION_PHRASES:  # the wrapped query's, replaced by the model's own
        message = phrase.sub("", message)
    if past_end:
        return (
            f"{message} (at the end of {origin}, line {line}: is a clause unfinished, or is "
            "there a trailing comma?)",
            line,
        )
    return f"{message} ({origin}, line {line})", line
