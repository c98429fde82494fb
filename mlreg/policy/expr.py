"""The policy expression language: a tokenizer and a Pratt parser into a small tree.

Grammar (lowest precedence first)::

    expr    := expr 'or' expr | expr 'and' expr | 'not' expr
             | sum (('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in') sum)?
    sum     := sum ('+' | '-') product | product
    product := product ('*' | '/' | '%') unary | unary
    unary   := '-' unary | atom
    atom    := NUMBER | DURATION | STRING | 'true' | 'false' | 'null'
             | path | '(' expr ')' | '[' (expr (',' expr)*)? ']'
    path    := NAME ('.' NAME | '[' STRING | NUMBER ']')*

A DURATION is a number with a unit (``7d``, ``12h``, ``30m``, ``45s``, ``2w``): its value
in seconds, to compare with ``age``. Nothing here evaluates anything or imports Python's
``eval``: the tree is walked by :mod:`mlreg.policy.evaluate`. A malformed expression
raises :class:`PolicySyntaxError` with the 1-based column of the offending character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from mlreg.errors import UsageError


class PolicySyntaxError(UsageError):
    """A malformed policy expression (exit 2: the policy, not the model, is wrong)."""

    def __init__(self, message: str, column: int):
        super().__init__(f"{message} at column {column}")
        self.column = column


# -- the tree --------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: object


@dataclass(frozen=True)
class Path:
    parts: tuple[Union[str, int], ...]
    column: int = field(default=0, compare=False)

    def text(self) -> str:
        out = ""
        for p in self.parts:
            if isinstance(p, int):
                out += f"[{p}]"
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
                out += ("." if out else "") + p
            else:
                out += "[" + repr(p) + "]"
        return out


@dataclass(frozen=True)
class Unary:
    op: str  # 'not' or '-'
    operand: "Node"


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class ListExpr:
    items: tuple["Node", ...]


Node = Union[Literal, Path, Unary, Binary, ListExpr]

# -- tokens ----------------------------------------------------------------------------
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<duration>\d+(?:\.\d+)?[smhdw](?![A-Za-z0-9_]))
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|\.|,)
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, keyword, end
    value: object
    column: int  # 1-based


def _unquote(text: str, column: int) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise PolicySyntaxError(f"unknown escape \\{nxt}", column + i + 1)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] in "'\"":
                raise PolicySyntaxError("unterminated string", pos + 1)
            raise PolicySyntaxError(f"unexpected character {text[pos]!r}", pos + 1)
        kind, raw, column = m.lastgroup, m.group(), pos + 1
        pos = m.end()
        if kind == "space":
            continue
        if kind == "duration":
            tokens.append(Token("number", float(raw[:-1]) * _UNITS[raw[-1]], column))
        elif kind == "number":
            tokens.append(Token("number", float(raw) if any(c in raw for c in ".eE") else int(raw), column))
        elif kind == "string":
            tokens.append(Token("string", _unquote(raw, column), column))
        elif kind == "name":
            tokens.append(Token("keyword" if raw in _KEYWORDS else "name", raw, column))
        else:
            tokens.append(Token("op", raw, column))
    tokens.append(Token("end", None, len(text) + 1))
    return tokens


# -- the parser ------------------------------------------------------------------------
#: binding power of infix operators
_INFIX = {"or": 10, "and": 20, "==": 40, "!=": 40, "<": 40, "<=": 40, ">": 40, ">=": 40, "in": 40,
          "not in": 40, "+": 50, "-": 50, "*": 60, "/": 60, "%": 60}
_NOT_POWER = 30
_NEG_POWER = 70
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> Token:
        tok = self.take()
        if tok.value != value or tok.kind not in ("op", "keyword"):
            raise PolicySyntaxError(f"expected {value!r}, found {_describe(tok)}", tok.column)
        return tok

    def infix_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == "keyword" and tok.value == "not" and self.peek(1).kind == "keyword" and self.peek(1).value == "in":
            return "not in"
        if tok.kind in ("op", "keyword") and tok.value in _INFIX:
            return str(tok.value)
        return None

    def expression(self, power: int = 0) -> Node:
        left = self.prefix()
        while True:
            op = self.infix_op()
            if op is None or _INFIX[op] <= power:
                return left
            tok = self.take()
            if op == "not in":
                self.take()
            if op in _COMPARISONS and isinstance(left, Binary) and left.op in _COMPARISONS:
                raise PolicySyntaxError("comparisons do not chain; join them with 'and'", tok.column)
            left = Binary(op, left, self.expression(_INFIX[op]))

    def prefix(self) -> Node:
        tok = self.take()
        if tok.kind == "number" or tok.kind == "string":
            return Literal(tok.value)
        if tok.kind == "keyword":
            if tok.value in ("true", "false"):
                return Literal(tok.value == "true")
            if tok.value == "null":
                return Literal(None)
            if tok.value == "not":
                return Unary("not", self.expression(_NOT_POWER))
        if tok.kind == "op":
            if tok.value == "-":
                return Unary("-", self.expression(_NEG_POWER))
            if tok.value == "(":
                inner = self.expression()
                self.expect(")")
                return inner
            if tok.value == "[":
                items: list[Node] = []
                if not (self.peek().kind == "op" and self.peek().value == "]"):
                    items.append(self.expression())
                    while self.peek().kind == "op" and self.peek().value == ",":
                        self.take()
                        items.append(self.expression())
                self.expect("]")
                return ListExpr(tuple(items))
        if tok.kind == "name":
            return self.path(str(tok.value), tok.column)
        raise PolicySyntaxError(f"expected a value, found {_describe(tok)}", tok.column)

    def path(self, first: str, column: int) -> Path:
        parts: list[Union[str, int]] = [first]
        while self.peek().kind == "op" and self.peek().value in (".", "["):
            sep = self.take()
            key = self.take()
            if sep.value == ".":
                # after a dot any word is a key, keywords included (tag.not is a tag named "not")
                if key.kind not in ("name", "keyword") and not (key.kind == "number" and isinstance(key.value, int)):
                    raise PolicySyntaxError(f"expected a name after '.', found {_describe(key)}", key.column)
                parts.append(str(key.value))
            else:
                if key.kind == "string":
                    parts.append(str(key.value))
                elif key.kind == "number" and isinstance(key.value, int):
                    parts.append(key.value)
                else:
                    raise PolicySyntaxError(f"expected a quoted key or an index, found {_describe(key)}", key.column)
                self.expect("]")
        return Path(tuple(parts), column)


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the rule"
    if tok.kind == "string":
        return f"string {tok.value!r}"
    return repr(str(tok.value)) if tok.kind != "number" else f"number {tok.value}"


def parse(text: str) -> Node:
    """The tree of one rule (PolicySyntaxError, with the column, when malformed)."""
    if not isinstance(text, str):
        raise PolicySyntaxError(f"a rule must be a string, not {type(text).__name__}", 1)
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise PolicySyntaxError("empty rule", 1)
    node = parser.expression()
    tok = parser.peek()
    if tok.kind != "end":
        raise PolicySyntaxError(f"unexpected {_describe(tok)}", tok.column)
    return node
