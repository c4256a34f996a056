"""The one template filler of the export: Jinja2 over ``automtl/export/templates/*.tmpl``.

Templates use ``{{KEY}}`` placeholders; an unknown or missing key raises
``jinja2.UndefinedError`` instead of leaving the placeholder in the output. Text is not
HTML-escaped (the templates are Python and Markdown) and is written exactly, trailing newline
included.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True)


def render(template: str, **values: Any) -> str:
    """The text of ``templates/<template>`` with each ``{{KEY}}`` replaced by ``values[KEY]``."""
    return _environment().get_template(template).render(**values)
