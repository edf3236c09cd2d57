"""mkdocs hook: the repository's README.md is the site's home page (one text, two places).

Links into ``docs/`` are rewritten to the site's own pages.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

README = Path(__file__).resolve().parents[1] / "README.md"


def on_files(files, config):
    text = README.read_text(encoding="utf-8").replace("](docs/", "](")
    files.append(File.generated(config, "index.md", content=text))
    return files
