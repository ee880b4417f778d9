"""Languages: a job's language code, detecting it from text, and asking a script writer for it.

    normalize("pt_BR") -> "pt-br"       a BCP 47 tag, lower case; None when it is not one
    base("zh-tw") -> "zh"
    name("ja") -> "Japanese"
    detect("猫と宇宙", fallback="en") -> "ja"   None when the text does not say (too short, emoji)
    written_in(narration, "ja") -> bool  the validator's check that a script is in its language
    script_instruction("ja")             the sentence every LLM script writer is given

Detection is py3langid's (langid.py's model, shipped inside its wheel: no download), limited to
the languages below, and trusted only when it is sure: a short Latin-script topic ("cats in space",
"Paris") is too weak to override the chat client's locale or the configured default, but a topic in
another script than the fallback's (Cyrillic under an English default) is enough on its own. The
model takes ~2 s to load, once per process, and keeps ~70 MB: call `detect` and `written_in` off the
event loop.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from typing import Any

__all__ = ["NAMES", "RTL", "normalize", "base", "name", "detect", "written_in", "script_instruction",
           "is_rtl", "ranked", "length_budget", "MULTILINGUAL_TTS",
           "script_of", "letter_scripts", "ready", "load"]

NAMES: dict[str, str] = {
    "af": "Afrikaans", "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "bg": "Bulgarian", "bn": "Bengali",
    "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "ga": "Irish", "gl": "Galician", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian", "is": "Icelandic", "it": "Italian",
    "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh", "km": "Khmer", "kn": "Kannada", "ko": "Korean",
    "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam", "mr": "Marathi",
    "ms": "Malay", "my": "Burmese", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian", "pa": "Punjabi",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "si": "Sinhala", "sk": "Slovak",
    "sl": "Slovenian", "sq": "Albanian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}
RTL = frozenset({"ar", "he", "fa", "ur", "yi", "ps"})
# What OpenAI's speech voices (and other Whisper-trained multilingual TTS) speak, as documented
MULTILINGUAL_TTS = frozenset(
    "af ar hy az be bs bg ca zh hr cs da nl en et fi fr gl de el he hi hu is id it ja kn kk ko lv lt mk ms mr mi "
    "ne no fa pl pt ro ru sr sk sl es sw sv tl ta th tr uk ur vi cy".split())
# The script a language is written in, where it is not Latin: a topic in another script than the
# fallback language's is evidence enough (Unicode character names begin with the script's name).
_SCRIPTS: dict[str, frozenset[str]] = {
    **{code: frozenset({"CYRILLIC"}) for code in ("ru", "uk", "bg", "sr", "mk", "kk")},
    **{code: frozenset({"ARABIC"}) for code in ("ar", "fa", "ur")},
    **{code: frozenset({"DEVANAGARI"}) for code in ("hi", "mr", "ne")},
    "el": frozenset({"GREEK"}), "he": frozenset({"HEBREW"}), "th": frozenset({"THAI"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}), "zh": frozenset({"CJK"}), "ko": frozenset({"HANGUL"}),
    "ka": frozenset({"GEORGIAN"}), "hy": frozenset({"ARMENIAN"}), "bn": frozenset({"BENGALI"}),
    "ta": frozenset({"TAMIL"}), "te": frozenset({"TELUGU"}), "km": frozenset({"KHMER"}), "lo": frozenset({"LAO"}),
}
_TAG = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")
SURE = 0.7  # a detection below this probability does not override the fallback
MIN_WORDS = 3  # in the fallback's script, fewer words than this never override it ("running" is not Icelandic)
PLAUSIBLE = 0.15  # the fallback language wins when the model gives it at least this much

_lock = threading.Lock()
_identifier: Any = None
_columns: dict[str, int] = {}  # the model's column of each language (set with _identifier)


def normalize(code: str | None) -> str | None:
    """`code` as a lower-case BCP 47 tag ("pt-br"), or None when it is not one (or is empty)."""
    if not isinstance(code, str):
        return None
    tag = code.strip().lower().replace("_", "-")
    return tag if len(tag) <= 35 and _TAG.fullmatch(tag) else None


def base(code: str) -> str:
    """The language without its region or script: "zh-tw" -> "zh"; "nb" -> "no"."""
    primary = (code or "en").lower().split("-")[0]
    return {"nb": "no", "nn": "no", "iw": "he", "in": "id", "fil": "tl"}.get(primary, primary)


def name(code: str) -> str:
    return NAMES.get(base(code), code)


def is_rtl(code: str) -> bool:
    return base(code) in RTL


def ready() -> bool:
    """Whether the detection model is in memory (then `detect` is quick: ~0.1 ms, no I/O)."""
    return _identifier is not None


def load() -> None:
    """Load the detection model now (~1 s, reading a compressed file). Blocking; idempotent."""
    _model()


def _model() -> Any:
    global _identifier, _columns
    with _lock:
        if _identifier is None:
            model = _load_model()
            # each language's column; the first of an aliased pair holds their merged score
            _columns = {}
            for i, code in enumerate(model.nb_classes):
                _columns.setdefault(str(code), i)
            _identifier = model
        return _identifier


def _load_model() -> Any:
    """langid.py's model cut down to our languages (set_languages() would keep the full one beside
    the subset): ~70 MB resident with its tokenizer tables, against ~85 MB for all 142 languages."""
    import numpy as np
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    keep = [i for i, code in enumerate(full.nb_classes) if code in NAMES]
    return LanguageIdentifier(
        np.ascontiguousarray(full.nb_ptc[:, keep]), full.nb_pc[keep],
        [full.nb_classes[i] for i in keep], full.tk_nextmove, full.tk_output, norm_probs=True, tk_row=full.tk_row)


def _letters_scripts(text: str) -> set[str]:
    if text.isascii():  # most topics: no name to look up
        return {"LATIN"} if any(ch.isalpha() for ch in text) else set()
    return {_script_of_letter(ch) for ch in text if ch.isalpha()}


@functools.lru_cache(maxsize=4096)
def _script_of_letter(ch: str) -> str:
    return unicodedata.name(ch, "UNKNOWN").split(" ")[0]


def script_of(code: str) -> frozenset[str]:
    """The scripts `code` is written in, as Unicode names them ("LATIN", "CYRILLIC", "CJK"...)."""
    return _script_of(code)


def letter_scripts(text: str) -> set[str]:
    """The scripts of the letters in `text`."""
    return _letters_scripts(text)


def _script_of(code: str) -> frozenset[str]:
    return _SCRIPTS.get(base(code), frozenset({"LATIN"}))


def ranked(text: str) -> list[tuple[str, float]]:
    """The model's languages for `text`, most likely first, with probabilities. Blocking."""
    if not any(ch.isalpha() for ch in text):
        return []
    model = _model()
    return [(str(code), float(p)) for code, p in model.rank(text)]


def detect(text: str, fallback: str = "en") -> str | None:
    """The language `text` is written in, when it says so clearly enough to override `fallback`;
    else None. Kana means Japanese (the model may call kanji-heavy Japanese Chinese). Blocking."""
    scripts = _letters_scripts(text)
    if not scripts:
        return None
    if scripts & {"HIRAGANA", "KATAKANA"}:
        return "ja"
    foreign_script = not scripts <= _script_of(fallback)
    if not foreign_script and len(text.split()) < MIN_WORDS:
        return None  # too few words to override the fallback, whatever the model says
    top, p, fallback_p = _top_and(text, base(fallback))
    if foreign_script:
        return top
    if p < SURE or fallback_p >= PLAUSIBLE:
        return None
    return top


def _top_and(text: str, code: str) -> tuple[str, float, float]:
    """The model's most likely language for `text` (which has letters), its probability, and
    `code`'s probability: what `ranked` gives first and for `code`, without sorting all the
    languages (detection runs on the event loop for every submission)."""
    model = _model()
    probs = model._decide(text)  # py3langid's scores that rank() sorts: one per class, aliases folded
    best = int(probs.argmax())
    index = _columns.get(code)
    return str(model.nb_classes[best]), float(probs[best]), float(probs[index]) if index is not None else 0.0


def written_in(text: str, code: str) -> bool:
    """False only when `text` is clearly in another language than `code`: its letters are in
    another script, or the model is sure of another language and gives `code` almost nothing.
    Languages the model does not know pass. Blocking."""
    scripts = _letters_scripts(text)
    if not scripts:
        return True
    want = base(code)
    expected = _script_of(want)
    if want in _SCRIPTS or want in NAMES:
        # most letters must be in the language's script (a brand name in Latin letters is fine)
        letters = [ch for ch in text if ch.isalpha()]
        inside = sum(1 for ch in letters if unicodedata.name(ch, "UNKNOWN").split(" ")[0] in expected)
        if inside < 0.5 * len(letters):
            return False
    if want not in NAMES or want in ("ja", "zh", "ko"):
        return True  # the script says it all (and the model mixes kanji-heavy Japanese up with Chinese)
    ranks = dict(ranked(text))
    top = max(ranks, key=lambda k: ranks[k]) if ranks else want
    return top == want or ranks.get(top, 0.0) < 0.9 or ranks.get(want, 0.0) >= 0.01


_CHARS_PER_SECOND = {"ja": 6.0, "zh": 4.5}  # spoken characters per second where words have no spaces


def length_budget(code: str, seconds: float) -> str:
    """How long the narration should be, in the unit the language counts in."""
    per_second = _CHARS_PER_SECOND.get(base(code))
    if per_second:
        return f"about {int(seconds * per_second)} spoken characters"
    return f"about {int(seconds * 2.6)} spoken words"


def script_instruction(code: str) -> str:
    """What every LLM script writer is told about language: the words in the job's, the picture in English."""
    label = name(code)
    return (
        f"Write the title, every narration and every key_phrase in {label} (language code {code!r}), "
        f"as a native {label} speaker would say them. Write every visual in English, whatever the "
        "topic's language: the image model reads only English."
    )
