"""parse_script on replies that are not JSON: always BadOutput (the cascade's "try the next one")."""

from __future__ import annotations

import pytest

from providers.base import ScriptRequest
from providers.errors import BadOutput
from providers.script_schema import parse_script

REQUEST = ScriptRequest(topic="stars", length="short", min_scenes=3, max_scenes=5, target_seconds=30.0)


def test_malformed_json_says_where() -> None:
    with pytest.raises(BadOutput, match=r"not valid JSON \(Expecting .* at char \d+\)"):
        parse_script('{"title": "Stars", "scenes": [', REQUEST)


def test_an_integer_past_the_digit_limit_is_bad_output_not_a_crash() -> None:
    # json.loads raises a plain ValueError here (no .msg/.pos): it used to escape as AttributeError
    with pytest.raises(BadOutput, match="not valid JSON"):
        parse_script('{"title": "Stars", "scenes": [], "n": ' + "9" * 5000 + "}", REQUEST)
