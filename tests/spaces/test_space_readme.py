"""The DSL's README: its YAML examples load, its reference tables match the validator's."""

from __future__ import annotations

import re
from pathlib import Path

import search_spaces
from search_spaces.describe import reference_markdown

README = Path(search_spaces.__file__).parent / "README.md"


def test_every_yaml_example_loads():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    for block in blocks:
        space = search_spaces.load(search_spaces.read_yaml(block))
        assert space.topologies


def test_reference_section_is_current():
    text = README.read_text()
    section = text.split("<!-- reference:start -->\n")[1].split("\n<!-- reference:end -->")[0]
    assert section == reference_markdown(), (
        "regenerate the README reference with search_spaces.describe.reference_markdown()")
