"""Docker's word processing of Dockerfile arguments: quotes, the escape character, `$VAR`.

Written by hand because no Python library implements the Dockerfile flavour of shell
words (it differs from POSIX: no command substitution, `${VAR:-x}`/`${VAR:+x}` only, and a
configurable escape character).
"""

from collections.abc import Mapping

from runtime.errors import InvalidInput


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, split: bool) -> list[str]:
        """All words; when not `split`, whitespace is kept and one word comes back."""
        words: list[str] = []
        current: list[str] = []
        seen = False
        while self.pos < len(self.text):
            ch = self.peek()
            if split and ch in " \t\r\n":
                self.pos += 1
                if seen:
                    words.append("".join(current))
                    current, seen = [], False
                continue
            seen = True
            if ch == "'":
                self.pos += 1
                current.append(self._until_quote("'"))
            elif ch == '"':
                self.pos += 1
                current.append(self._double_quoted())
            elif ch == self.escape:
                self.pos += 1
                nxt = self.take()
                current.append(nxt if nxt else self.escape)
            elif ch == "$":
                self.pos += 1
                current.append(self._variable())
            else:
                self.pos += 1
                current.append(ch)
        if seen or not split:
            words.append("".join(current))
        return words

    def _until_quote(self, quote: str) -> str:
        end = self.text.find(quote, self.pos)
        if end < 0:
            raise InvalidInput(f"unexpected end of statement while looking for matching {quote}")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        out: list[str] = []
        while True:
            ch = self.take()
            if ch == "":
                raise InvalidInput('unexpected end of statement while looking for matching "')
            if ch == '"':
                return "".join(out)
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            elif ch == "$":
                out.append(self._variable())
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def _variable(self) -> str:
        if self.peek() == "{":
            self.pos += 1
            name = self._name()
            if not name:
                raise InvalidInput(f"bad substitution in {self.text!r}")
            if self.peek() == "}":
                self.pos += 1
                return self.env.get(name, "")
            if self.peek() != ":":
                raise InvalidInput(f"unsupported modifier in ${{{name}...}} of {self.text!r}")
            self.pos += 1
            modifier = self.take()
            if modifier not in "-+?":
                raise InvalidInput(f"unsupported modifier :{modifier} in {self.text!r}")
            word = self._word_until_brace()
            value = self.env.get(name, "")
            if modifier == "-":
                return value or word
            if modifier == "+":
                return word if value else ""
            if not value:
                raise InvalidInput(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        name = self._name()
        if not name:
            return "$"
        return self.env.get(name, "")

    def _word_until_brace(self) -> str:
        out: list[str] = []
        while True:
            ch = self.take()
            if ch == "":
                raise InvalidInput(f"missing '}}' in {self.text!r}")
            if ch == "}":
                return "".join(out)
            if ch == "$":
                out.append(self._variable())
            elif ch == self.escape:
                out.append(self.take())
            else:
                out.append(ch)


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Split on whitespace, remove quotes and expand variables (EXPOSE, VOLUME, COPY...)."""
    return _Lexer(text, env, escape).words(split=True)


def expand_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with quotes removed and variables expanded (WORKDIR, USER, ENV values)."""
    return _Lexer(text, env, escape).words(split=False)[0]


def split_words(text: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (for key=value lists)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quote != "'":
            current.append(ch)
            escaped = True
        elif quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            current.append(ch)
            quote = ch
        elif ch in " \t\r\n":
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words
