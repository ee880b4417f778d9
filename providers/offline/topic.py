"""Turning a raw topic into text the offline storyboard can speak and set in type.

A topic arrives exactly as a user typed it: any case, quotes, emoji, braces, a paragraph. This
module cleans it into a short `Subject` (a noun phrase for the narration, a title-cased title,
a few keywords) and gives the stable seed every offline stage derives its choices from.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Subject", "stable_seed", "title_case", "clean_text", "parse_subject"]

MAX_SUBJECT_WORDS = 9  # longer topics are cut at a clause boundary: narration repeats the subject
MAX_WORD_CHARS = 24  # a 300-letter "word" is cut: it is spoken in every scene
_QUOTES = "\"'“”‘’"

# Lower-case inside a title unless first or last (Chicago-ish).
_SMALL_WORDS = frozenset(
    "a an and as at but by en for from if in into nor of on or per the to up via vs vs. with".split()
)
# Words that carry no topic of their own: never keywords.
_STOPWORDS = _SMALL_WORDS | frozenset(
    """about after all also am are be been before being between both can could did do does
    doing during each every few how i is it its just more most my no not now only other our out
    over own really same should so some such than that their them then there these they this
    those through too under until very was we were what when where which while who whom why
    will would you your ever explained guide introduction intro history story facts everything
    things thing""".split()
)
# Question and clause openers: a subject starting with one reads as a clause, spoken as "it".
_CLAUSE_OPENERS = frozenset("how why what when where who which whether".split())
_IRREGULAR_PLURALS = frozenset(
    "people children men women mice geese teeth feet data bacteria fungi cacti alumni".split()
)
_SINGULAR_S = ("ss", "us", "is", "ics", "ness", "sis", "ous")
_PREPOSITIONS = frozenset("of in on for with from about at to into under over between".split())
_CLAUSE_BREAK = re.compile(r"\s*[.;:!?()\[\]|\n—–]+\s*|\s+-\s+|,\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from text, the same in every process (never Python's salted `hash()`)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def clean_text(text: str) -> str:
    """Printable, speakable text, whitespace collapsed. Emoji and other symbols are left out: spelled
    as English words ("rocket") they would read wrong in every other language, and aloud."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        cat = unicodedata.category(ch)
        if cat[0] in "LNP" or ch == " " or cat in ("Mn", "Mc"):
            if "\ufe00" <= ch <= "\ufe0f":  # emoji variation selectors
                continue
            out.append(ch)
        else:  # controls, format chars (ZWJ), modifiers, math/currency symbols, separators
            out.append(" ")
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _balance_quotes(text: str) -> str:
    """Drop quote marks that enclose the whole text, and any that are left unpaired."""
    text = text.strip()
    while len(text) > 1 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    for quote in ('"', "“”"):
        if sum(text.count(q) for q in quote) % 2:
            text = "".join(c for c in text if c not in quote)
    return text


def _capitalise(word: str) -> str:
    """Upper-case the first letter of `word`, keeping any leading quote and the rest as typed."""
    for i, ch in enumerate(word):
        if ch.isalpha():
            return word[:i] + ch.upper() + word[i + 1 :]
    return word


def _title_word(word: str, first: bool, last: bool) -> str:
    core = word.strip("\"'“”‘’()[]{}")
    if any(c.isupper() for c in core[1:]) or (core.isupper() and len(core) > 1):
        return word  # DNA, iPhone, McDonald: the user's casing is deliberate
    if core.lower() in _SMALL_WORDS and not (first or last):
        return word.lower()
    return "-".join(_capitalise(part) for part in word.split("-"))


def title_case(text: str) -> str:
    """"the life cycle of a star" -> "The Life Cycle of a Star"."""
    words = text.split()
    return " ".join(
        _title_word(w, i == 0, i == len(words) - 1) for i, w in enumerate(words)
    )


def _shorten(text: str) -> str:
    """At most MAX_SUBJECT_WORDS words, cut at the first clause boundary when there is one."""
    if len(text.split()) <= MAX_SUBJECT_WORDS:
        return text
    first_clause = _CLAUSE_BREAK.split(text, maxsplit=1)[0]
    words = first_clause.split()
    if 2 <= len(words) <= MAX_SUBJECT_WORDS:
        return first_clause
    words = text.split()[:MAX_SUBJECT_WORDS]
    while len(words) > 2 and words[-1].lower().strip(",.") in _STOPWORDS:
        words.pop()  # never end on "of", "the", "and"
    return " ".join(words)


def _is_plural(phrase: str) -> bool:
    words = [w.lower() for w in _WORD.findall(phrase)]
    if not words or words[0] in _CLAUSE_OPENERS:
        return False
    head: list[str] = []
    for w in words:
        if w in _PREPOSITIONS and head:
            break
        head.append(w)
    noun = head[-1]
    if noun in _IRREGULAR_PLURALS:
        return True
    return len(noun) > 3 and noun.endswith("s") and not noun.endswith(_SINGULAR_S)


def _focus(phrase: str) -> str:
    """The last content word, with the one before it when they stand together ("black holes")."""
    words = [w for w in _WORD.findall(phrase) if len(w) > 1 or w.isdigit()]
    content = [i for i, w in enumerate(words) if w.lower() not in _STOPWORDS]
    if not content:
        return title_case(words[-1]) if words else "This"
    last = content[-1]
    picked = words[last - 1 : last + 1] if len(content) > 1 and content[-2] == last - 1 else [words[last]]
    focus = " ".join(picked)
    return title_case(focus) if len(focus) <= 24 else title_case(words[last][:24])


@dataclass(frozen=True)
class Subject:
    """The topic, ready for templates."""

    raw: str  # the cleaned topic, full length
    phrase: str  # mid-sentence form: "the life cycle of a star"
    title: str  # "The Life Cycle of a Star"
    keywords: tuple[str, ...]  # content words, most specific last: ("life", "cycle", "star")
    focus: str  # one or two title-cased words naming its heart, for key phrases: "Black Holes"
    plural: bool  # speak of it as "they"

    @property
    def sentence_start(self) -> str:
        return _capitalise(self.phrase)


def parse_subject(topic: str) -> Subject:
    """Clean and shorten a raw topic. Never fails: an empty topic becomes "this idea"."""
    raw = _balance_quotes(clean_text(topic)).strip(" .,;:!?")
    if not raw:
        raw = "this idea"
    short = " ".join(w[:MAX_WORD_CHARS] for w in _shorten(raw).split()).strip(" ,;:-")
    if short.isupper() and len(short.split()) > 1:
        short = short.lower()  # SHOUTED TOPICS read as plain text
    words = short.split()
    if words[0].lower() in _STOPWORDS and words[0][:1].isupper() and words[0][1:].islower():
        words[0] = words[0].lower()  # "The life cycle" -> "...of the life cycle"
    if words[0].lower() in _CLAUSE_OPENERS:
        # "why cats purr" cannot stand where the templates put a noun: make it one.
        lead = "the secret of" if words[0].lower() in ("how", "why") else "the mystery of"
        words = [lead, words[0].lower(), *words[1:]]
    phrase = " ".join(words)
    keywords = tuple(
        w for w in (m.lower() for m in _WORD.findall(short)) if w not in _STOPWORDS and len(w) > 1
    )
    return Subject(
        raw=raw,
        focus=_focus(short),
        phrase=phrase,
        title=title_case(short),
        keywords=keywords,
        plural=_is_plural(phrase),
    )
