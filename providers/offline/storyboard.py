"""The offline script writer: a deterministic storyboard from templates, no language model.

The same topic and length always give the same script: every choice comes from a generator
seeded with a SHA-256 of the cleaned topic. The arc is a hook, a body of varied sentence shapes
(never the same template twice, never the same role twice in a row) and a closing thought, sized
to the requested narration length at about `WORDS_PER_SECOND`.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar

from providers.base import Scene, Script, ScriptRequest, Stage, StageContext
from providers.language import base, name
from providers.offline.base import OfflineBase
from providers.offline.templates import TEMPLATES, Role, Template, grammar
from providers.offline.templates_world import WORLD_TEMPLATES
from providers.offline.topic import Subject, _balance_quotes, clean_text, parse_subject, stable_seed

__all__ = ["OfflineScriptWriter", "write_storyboard", "compose", "WORDS_PER_SECOND"]

WORDS_PER_SECOND = 2.6  # eSpeak at ~165 wpm, with sentence pauses
# Where words are not spaced, length is counted in characters: this many take as long for eSpeak as
# one English word (measured: an English word ~0.28 s; a kana ~0.14 s at the Japanese voice's rate,
# a Mandarin syllable ~0.25 s). A kanji costs eSpeak's Japanese voice ~0.85 s (it has no kanji
# readings), as long as this many kana: the topic's kanji are counted that heavily.
CHARS_PER_WORD = {"ja": 2.0, "zh": 1.1, "ko": 1.4}  # Korean: Hangul syllables (~0.2 s each)
KANJI_WEIGHT = 6
# Spaced languages whose words take eSpeak longer than English ones (Arabic writes articles and
# prepositions into the word: ~0.49 s a word against English's 0.28)
WORD_WEIGHT = {"ar": 1.6, "de": 1.15, "he": 1.3}
# Languages without templates that read one of ours well enough (else English, the topic as written)
NEAREST = {"pt": "es", "gl": "es", "ca": "es", "it": "es", "ast": "es", "oc": "fr", "wa": "fr", "lb": "de",
           "gsw": "de", "yue": "zh", "wuu": "zh"}
WORDS_PER_SCENE = 17  # a comfortable scene: one or two sentences, ~6 s on screen
MIN_PHRASE_WORDS, MAX_PHRASE_WORDS = 2, 5
_BODY_ROLES = tuple(r for r in Role if r not in (Role.HOOK, Role.CLOSE))


def _scene_count(request: ScriptRequest) -> int:
    lo = max(1, request.min_scenes)
    hi = max(lo, request.max_scenes)
    ideal = round(request.target_seconds * WORDS_PER_SECOND / WORDS_PER_SCENE)
    return min(hi, max(lo, ideal))


def _plan_roles(count: int, rng: random.Random) -> list[Role]:
    """HOOK, a shuffled body with no role twice in a row, CLOSE."""
    if count == 1:
        return [Role.HOOK]
    body: list[Role] = []
    while len(body) < count - 2:
        batch = list(_BODY_ROLES)
        rng.shuffle(batch)
        if body and batch[0] is body[-1]:
            batch.append(batch.pop(0))
        body.extend(batch)
    return [Role.HOOK, *body[: count - 2], Role.CLOSE]


def template_language(language: str) -> tuple[str, str]:
    """The language the storyboard is written in for a job in `language`, and a note when it is not
    that one (for the provenance)."""
    want = base(language)
    if want == "en" or want in WORLD_TEMPLATES:
        return want, ""
    near = NEAREST.get(want)
    if near:
        return near, (f"offline storyboard in {name(near)} ({near}), the nearest to {name(language)} "
                      f"({language}) it has templates for")
    return "en", f"offline storyboard in English: no templates for {name(language)} ({language}); topic kept as written"


def _size(text: str, language: str) -> float:
    """Speaking time in English words' worth: words, or weighted characters where words are unspaced."""
    per_word = CHARS_PER_WORD.get(language)
    if per_word is None:
        return len(text.split()) * WORD_WEIGHT.get(language, 1.0)
    chars = sum(KANJI_WEIGHT if language == "ja" and "\u4e00" <= c <= "\u9fff" else 1
                for c in text if c.isalpha())
    return chars / per_word


def _pick_templates(roles: list[Role], rng: random.Random, templates: tuple[Template, ...] = TEMPLATES
                    ) -> list[Template]:
    """One unused template per role; a role whose templates are spent borrows a FACT or any."""
    unused = list(templates)
    picked: list[Template] = []
    for role in roles:
        pool = [t for t in unused if t.role is role]
        pool = pool or [t for t in unused if t.role in _BODY_ROLES] or unused
        choice = rng.choice(pool or list(templates))  # more scenes than templates: repeat one
        if choice in unused:
            unused.remove(choice)
        picked.append(choice)
    return picked


def _fill(text: str, values: dict[str, str]) -> str:
    return text.format_map(values).strip()


def _key_phrase(template: Template, values: dict[str, str], subject: Subject,
                rng: random.Random) -> str:
    candidates = [_fill(p, values) for p in template.phrases]
    if template.role is Role.HOOK:
        words = subject.title.split()
        untitled = words[1:] if len(words) > 2 and words[0].lower() in ("the", "a", "an") else words
        candidates[:0] = [subject.title, " ".join(untitled)]
    fitting = [c for c in candidates if MIN_PHRASE_WORDS <= len(c.split()) <= MAX_PHRASE_WORDS]
    if not fitting:
        return "The Big Picture"
    return fitting[0] if template.role is Role.HOOK else rng.choice(fitting)


def _narration(template: Template, values: dict[str, str], budget_words: float, language: str = "en") -> str:
    core = _fill(template.core, values)
    if not template.more:
        return core
    gap = "" if language in ("ja", "zh") else " "
    both = f"{core}{gap}{_fill(template.more, values)}"
    # Add the follow-up while the scene is short of its share; the running budget in
    # `compose` takes an overshoot back from the scenes after it.
    return both if _size(core, language) < 0.9 * budget_words else core


def write_storyboard(request: ScriptRequest) -> Script:
    """The whole script, synchronously. Pure: no I/O, the same output for the same request."""
    return compose(request)[0]


def compose(request: ScriptRequest) -> tuple[Script, tuple[str, ...]]:
    """The script and the id of the template behind each scene."""
    language, note = template_language(request.language)
    if language != "en":
        return _compose_world(request, language, note)
    script, ids = _compose_english(request)
    return Script(script.title, script.scenes, "en" if base(request.language) != "en" else "", note), ids


def _topic_as_written(topic: str) -> str:
    text = _balance_quotes(clean_text(topic)).strip(" .,;:!?")
    return text or "?"


def _compose_world(request: ScriptRequest, language: str, note: str) -> tuple[Script, tuple[str, ...]]:
    """A storyboard from one language's templates, the topic kept exactly as written."""
    topic = _topic_as_written(request.topic)
    templates = WORLD_TEMPLATES[language]
    rng = random.Random(stable_seed("offline-script", language, topic.casefold(), request.length))
    count = _scene_count(request)
    words_left = request.target_seconds * WORDS_PER_SECOND
    title = topic[:1].upper() + topic[1:]
    focus = topic if len(topic) <= 24 else title.split()[0][:24]
    values = {"s": topic, "S": title, "focus": focus}
    scenes: list[Scene] = []
    picked = _pick_templates(_plan_roles(count, rng), rng, templates)
    for template in picked:
        narration = _narration(template, values, words_left / (count - len(scenes)), language)
        words_left -= _size(narration, language)
        phrases = [p for p in (_fill(p, values) for p in template.phrases) if 0 < len(p) <= 28]
        scenes.append(Scene(narration=narration, visual=_fill(template.visual, values),
                            key_phrase=phrases[0] if template.role is Role.HOOK or not phrases
                            else rng.choice(phrases)))
    # the script says which language it is in only when that is not the one asked for
    declared = language if language != base(request.language) else ""
    return Script(title=title, scenes=tuple(scenes), language=declared, note=note), tuple(t.id for t in picked)


def _compose_english(request: ScriptRequest) -> tuple[Script, tuple[str, ...]]:
    subject = parse_subject(request.topic)
    rng = random.Random(stable_seed("offline-script", subject.raw.casefold(), request.length))
    count = _scene_count(request)
    words_left = request.target_seconds * WORDS_PER_SECOND
    values: dict[str, Any] = {
        **grammar(subject.plural),
        "s": subject.phrase,
        "S": subject.sentence_start,
        "focus": subject.focus,
        "seconds": str(max(5, round(request.target_seconds / 5) * 5)),
    }
    scenes: list[Scene] = []
    templates = _pick_templates(_plan_roles(count, rng), rng)
    for template in templates:
        # Each scene aims at its share of what is left, so short scenes early are made up later.
        narration = _narration(template, values, words_left / (count - len(scenes)))
        words_left -= len(narration.split())
        scenes.append(
            Scene(
                narration=narration,
                visual=_fill(template.visual, values),
                key_phrase=_key_phrase(template, values, subject, rng),
            )
        )
    return Script(title=subject.title, scenes=tuple(scenes)), tuple(t.id for t in templates)


class OfflineScriptWriter(OfflineBase):
    """Writes a storyboard from templates. Always available, never calls out."""

    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.SCRIPT})

    async def probe(self) -> dict[str, Any]:
        return {"templates": len(TEMPLATES), "languages": ["en", *WORLD_TEMPLATES]}

    async def write_script(self, request: ScriptRequest, ctx: StageContext) -> Script:
        script = write_storyboard(request)
        ctx.report(1.0, f"{len(script.scenes)} scenes from templates")
        await asyncio.sleep(0)  # a checkpoint: cancellation is honoured even on this fast path
        return script
