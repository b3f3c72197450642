"""Retrieved examples: a prompt's pool of labelled texts, the nearest shown before the article (never the article
itself), the pool part of the prompt's identity, and a clear error for a pool that is missing or malformed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llm_extract.core.errors import PromptNotFound
from llm_extract.extraction.examples import ExamplePool
from llm_extract.extraction.prompts import load_prompt

ROOT = Path(__file__).resolve().parents[1]
POOL = [
    {"id": "a", "text": "a car bomb exploded outside the embassy in lima", "answer": {"templates": ["bomb"]}},
    {"id": "b", "text": "guerrillas kidnapped the mayor of achi and his driver", "answer": {"templates": ["kidnap"]}},
    {"id": "c", "text": "the central bank raised interest rates again", "answer": {"templates": []}},
]


def _pool(tmp_path: Path, k: int = 1) -> ExamplePool:
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in POOL))
    return ExamplePool(path, k)


def test_the_nearest_examples_come_first_with_their_answers(tmp_path: Path) -> None:
    pool = _pool(tmp_path, k=2)
    nearest = pool.nearest("Rebels kidnapped a mayor near Achi yesterday.")
    assert [example.id for example in nearest][:1] == ["b"]
    assert nearest[0].answer == '{"templates": ["kidnap"]}'
    assert len(pool.nearest("a bomb exploded at the embassy")) <= 2


def test_the_article_itself_is_never_its_own_example(tmp_path: Path) -> None:
    pool = _pool(tmp_path, k=1)
    own = POOL[0]["text"]
    assert [example.id for example in pool.nearest(own)] != ["a"]


def test_nothing_is_shown_for_a_text_with_no_words_the_pool_knows(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    assert pool.nearest("") == [] and pool.nearest("   ") == []
    assert pool.nearest("the and of") == []  # stop words only
    assert pool.nearest("zzzz qqqq") == []  # no word in common


def test_muc4_v4_shows_a_training_text_and_its_key_before_the_article() -> None:
    prompt = load_prompt("muc4_v4")
    article = json.loads((ROOT / "evals/muc4/docs.jsonl").read_text().splitlines()[3])["text"]
    system, user = prompt.render(article)
    assert system == load_prompt("muc4_v3").render(article)[0]  # the fixed part is muc4_v3's: cached once
    assert user["content"].startswith("A training text like this one, and its answer:\nText: ")
    assert user["content"].endswith(f"<<<\n{article}\n>>>")
    shown = prompt.examples.nearest(article)
    assert len(shown) == 1 and shown[0].id.startswith("DEV-MUC3-") and f"Answer: {shown[0].answer}" in user["content"]
    held_out = {f"DEV-MUC3-{n:04d}" for n in range(101, 201)}
    assert not held_out & {example.id for example in prompt.examples.examples}


def test_the_pool_is_part_of_the_prompt_s_identity_and_must_exist(tmp_path: Path) -> None:
    for name in ("muc4_v4.toml", "muc4_v4.examples.jsonl"):
        shutil.copy(ROOT / "prompts" / name, tmp_path / name)
    same = load_prompt(str(tmp_path / "muc4_v4.toml"))
    assert same.sha256 == load_prompt("muc4_v4").sha256
    pool = tmp_path / "muc4_v4.examples.jsonl"
    pool.write_text(pool.read_text().splitlines()[0] + "\n")
    load_prompt.cache_clear()
    assert load_prompt(str(tmp_path / "muc4_v4.toml")).sha256 != same.sha256
    pool.unlink()
    load_prompt.cache_clear()
    with pytest.raises(PromptNotFound, match=r"its example pool .* does not exist"):
        load_prompt(str(tmp_path / "muc4_v4.toml"))
    (tmp_path / "bad.toml").write_text('system = "s"\nuser = "u"\nreask = "r"\n[examples]\nk = 2\n')
    with pytest.raises(PromptNotFound, match=r"\[examples\] needs pool"):
        load_prompt(str(tmp_path / "bad.toml"))
