"""The sentence shapes the offline storyboard is written from.

Each `Template` is one scene: a core sentence, an optional follow-up the writer adds when the
scene needs more words, key phrases for the typography, and a picture for the image prompt. A
script never uses one template twice, and the roles give it an arc: a hook, a body of varied
shapes (questions, contrasts, "picture this", facts framed several ways), and a closing thought.

Placeholders (filled with `str.format`, so braces in a topic are safe):

    {s} {S}            the subject mid-sentence / at a sentence start
    {it} {It} {its}    "it"/"they", "its"/"their"; {obj} "it"/"them" as an object
    {is} {was} {has} {does} {it_s} {It_s}   verbs that agree with the subject
    {v}                "s" after a regular verb when the subject is singular: "look{v}"
    {focus}            one or two title-cased words naming the topic's heart: "Black Holes"
    {seconds}          the video's length in seconds, rounded
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Role", "Template", "TEMPLATES", "grammar"]


class Role(enum.Enum):
    HOOK = "hook"  # the opening line: a reason to keep watching
    QUESTION = "question"
    CONTRAST = "contrast"
    PICTURE = "picture"  # "picture this", "imagine"
    FACT = "fact"  # a general truth, framed a different way each time
    TIME = "time"  # history, change over time
    MYTH = "myth"
    SCALE = "scale"
    EVERYDAY = "everyday"
    MEANING = "meaning"  # why it matters
    CLOSE = "close"  # the closing thought


@dataclass(frozen=True)
class Template:
    id: str
    role: Role
    core: str  # one sentence, always spoken
    more: str  # a follow-up sentence, spoken when the scene is short of its word budget
    phrases: tuple[str, ...]  # key phrase choices, 2-5 words each
    visual: str  # the picture, as an image prompt


def grammar(plural: bool) -> dict[str, str]:
    """The agreeing words for a singular ("it is") or plural ("they are") subject."""
    if plural:
        words = ("they", "They", "them", "their", "Their", "are", "were", "have", "do",
                 "they're", "They're", "")
    else:
        words = ("it", "It", "it", "its", "Its", "is", "was", "has", "does", "it's", "It's", "s")
    keys = ("it", "It", "obj", "its", "Its", "is", "was", "has", "does", "it_s", "It_s", "v")
    return dict(zip(keys, words, strict=True))


def _t(id: str, role: Role, core: str, more: str, phrases: tuple[str, ...], visual: str) -> Template:
    return Template(id, role, core, more, phrases, visual)


H, Q, C, P, F = Role.HOOK, Role.QUESTION, Role.CONTRAST, Role.PICTURE, Role.FACT
T, M, SC, E, ME, CL = Role.TIME, Role.MYTH, Role.SCALE, Role.EVERYDAY, Role.MEANING, Role.CLOSE

TEMPLATES: tuple[Template, ...] = (
    # ------------------------------------------------------------------ hooks
    _t("hook-secret", H, "Here is something most people never notice about {s}.",
       "Stay with me, because it changes how you see {obj}.",
       ("{focus}", "Look Again"), "a cinematic establishing shot of {s}, dramatic light"),
    _t("hook-seconds", H, "Give me {seconds} seconds, and you will never see {s} the same way again.",
       "Let's start at the beginning.",
       ("{focus}", "{seconds} Seconds"), "a bold wide opening shot of {s}, sweeping horizon"),
    _t("hook-simple", H, "{S} look{v} simple from a distance.",
       "Up close, {it_s} a completely different story.",
       ("{focus}", "Not So Simple"), "{s} seen from far away, tiny against a vast sky"),
    _t("hook-story", H, "Behind {s} there is a hidden story, and it starts somewhere unexpected.",
       "Let's follow it.", ("{focus}", "The Hidden Story"),
       "a mysterious doorway of light opening onto {s}"),
    # ------------------------------------------------------------------ questions
    _t("q-how", Q, "So what actually makes {s} work?",
       "The answer is less obvious than you might think.",
       ("How Does It Work?", "The Real Question"), "an intricate close-up revealing how {s} works"),
    _t("q-without", Q, "What would the world look like without {s}?",
       "Probably a lot less interesting, and a lot less connected.",
       ("Imagine Without It", "What If?"), "an empty, quiet landscape where {s} {is} missing"),
    _t("q-begin", Q, "Have you ever wondered where {s} really begin{v}?",
       "Most of us never think to ask.", ("Where It Begins", "Ever Wondered?"),
       "the first spark of {s}, a single point of light in darkness"),
    _t("q-why", Q, "Why does any of this matter?",
       "Because {s} quietly shape{v} more of our world than we notice.",
       ("Why It Matters", "So What?"), "ripples spreading outward from {s} across still water"),
    # ------------------------------------------------------------------ contrasts
    _t("c-surface", C, "On the surface, {s} seem{v} straightforward.",
       "Underneath, {it_s} a balance of forces pulling in different directions.",
       ("Beneath the Surface", "Two Sides"), "a split frame: calm surface above, turbulent depths below"),
    _t("c-many", C, "It is tempting to see {s} as one single thing.",
       "In reality, {it_s} many small pieces working together.",
       ("Many Small Pieces", "More Than One"), "many small glowing pieces assembling into {s}"),
    _t("c-settled", C, "We often talk about {s} as if the story were finished.",
       "But the details are still full of surprises.",
       ("Still Unfolding", "Not Settled Yet"), "{s} half in shadow, half in bright light"),
    # ------------------------------------------------------------------ picture this
    _t("p-first", P, "Picture this: {s}, seen for the very first time.",
       "Every detail feels new, and every detail has a reason.",
       ("Picture This", "First Sight"), "a first glimpse of {s} at dawn, soft golden light"),
    _t("p-slow", P, "Now imagine {s} unfolding in slow motion.",
       "Each moment quietly sets up the next.",
       ("In Slow Motion", "Frame by Frame"), "{s} frozen mid-motion, long exposure light trails"),
    _t("p-inside", P, "Imagine standing right in the middle of {s}.",
       "What would you notice first: the sound, the light, or the scale?",
       ("Step Inside", "Right in the Middle"), "an immersive view from inside {s}, surrounded on all sides"),
    # ------------------------------------------------------------------ facts, framed differently
    _t("f-pattern", F, "Here is the key idea: {s} follow{v} a pattern that repeats again and again.",
       "Once you spot it, you start seeing it everywhere.",
       ("The Pattern", "Again and Again"), "a repeating geometric pattern echoing {s}"),
    _t("f-small", F, "One thing stands out: in {s}, small changes can lead to enormous effects.",
       "A tiny shift at the start can change the whole ending.",
       ("Small Changes, Big Effects", "Tiny Shifts"), "a single small spark growing into a vast glow"),
    _t("f-remember", F, "If you remember one thing about {s}, make it this: almost nothing happens by accident.",
       "", ("Remember This", "Nothing by Accident"), "a clear, focused detail of {s} under a spotlight"),
    _t("f-balance", F, "At {its} heart, {s} {is} about balance.",
       "Too much in one direction, and everything changes.",
       ("It's All Balance", "Finding Balance"), "a perfectly balanced composition, symmetry around {s}"),
    # ------------------------------------------------------------------ time
    _t("t-fascinated", T, "People have been fascinated by {s} for a very long time.",
       "And every generation has seen {obj} a little differently.",
       ("Through the Ages", "Then and Now"), "an old engraving style view of {s}, timeless and faded"),
    _t("t-steps", T, "None of this happened all at once.",
       "{S} {is} the result of countless steps, each building on the last.",
       ("Step by Step", "One Step at a Time"), "a long staircase of light leading toward {s}"),
    _t("t-rewind", T, "Rewind the clock, and {s} looked very different.",
       "Change is the one thing you can count on.", ("Rewind", "How It Changed"),
       "{s} long ago, sepia tones and dust in the air"),
    # ------------------------------------------------------------------ myths
    _t("m-simple", M, "A common myth says {s} {is} simple.", "The truth is far more interesting.",
       ("Myth vs. Reality", "Think Again"), "a cracked mirror reflecting {s} in fragments"),
    _t("m-understood", M, "You might have heard that {s} {is} fully understood.",
       "Not quite: there are still open questions.",
       ("Not Quite", "Open Questions"), "a question mark drawn in light over {s}"),
    # ------------------------------------------------------------------ scale
    _t("s-numbers", SC, "The scale of {s} is easy to underestimate.",
       "Zoom out, and the numbers become hard to imagine.",
       ("Think Bigger", "Zoom Out"), "an enormous aerial view of {s}, a tiny figure for scale"),
    _t("s-zoom", SC, "Zoom in close enough, and {s} reveal{v} a whole new layer.",
       "Every level has its own rules.", ("{focus} Up Close", "Zoom In"),
       "an extreme macro close-up of {s}, fine texture and detail"),
    # ------------------------------------------------------------------ everyday
    _t("e-lab", E, "You do not need a laboratory to see {s} at work.",
       "Traces of {obj} show up in ordinary, everyday life.",
       ("Hidden in Plain Sight", "All Around Us"), "{s} glimpsed in an ordinary street at dusk"),
    _t("e-connects", E, "{S} connect{v} to things you already know, often in ways you would never guess.",
       "", ("Connected", "It All Connects"), "threads of light linking {s} to familiar things"),
    # ------------------------------------------------------------------ meaning
    _t("me-see", ME, "Understanding {s} changes how you see everything around {obj}.",
       "That is what makes {obj} worth a closer look.",
       ("A New Lens", "See It Differently"), "looking at {s} through a glowing lens"),
    _t("me-questions", ME, "The more you learn about {s}, the more questions appear.",
       "And honestly, that is the best part.",
       ("Keep Asking", "More Questions"), "a winding path into fog toward {s}"),
    # ------------------------------------------------------------------ closing thoughts
    _t("cl-second-look", CL, "So next time you come across {s}, take a second look.",
       "There is always more going on than meets the eye.",
       ("Take a Second Look", "Look Closer"), "{s} at golden hour, a calm final wide shot"),
    _t("cl-inside", CL, "That is {s}: simple on the outside, remarkable on the inside.",
       "Follow for more stories like this one.",
       ("Simply Remarkable", "Remarkable Inside"), "a quiet, glowing final image of {s}"),
    _t("cl-chapter", CL, "The story of {s} is still being written.",
       "Maybe you will write the next chapter.",
       ("The Next Chapter", "To Be Continued"), "a horizon at sunrise beyond {s}, open sky"),
    _t("cl-share", CL, "Now you know a little more about {s} than most people do.",
       "Share it with someone who would love it.",
       ("Now You Know", "Pass It On"), "{s} in a warm, hopeful closing shot"),
)
