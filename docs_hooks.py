"""MkDocs hooks for the documentation site (mkdocs.yml names this file).

Files outside docs/ that a page shows: docs/performance.md shows the benchmark figure by
its path in the repository, ``../benchmarks/results/bench.png``, so that the page reads
the same on a code host as on the site. The site gets a copy of each such file at its
repository path and links to it are pointed there; any other link that leaves docs/
still fails ``mkdocs build --strict``.

reST roles: the docstrings write cross-references as ``:func:`name```, which Markdown
renders as the role's name followed by the code; the site shows the code alone.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

OUTSIDE_FILES = ("benchmarks/results/bench.png",)

LINK = re.compile(r"\]\(([^)\s]+)\)")


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for path in OUTSIDE_FILES:
        files.append(File(path, str(root), config.site_dir, config.use_directory_urls))
    return files


def on_page_markdown(markdown, page, config, files):
    docs = Path(config.docs_dir).relative_to(Path(config.config_file_path).parent).as_posix()
    here = posixpath.dirname(page.file.src_uri)

    def point_inside(match: re.Match) -> str:
        in_repository = posixpath.normpath(posixpath.join(docs, here, match[1]))
        if in_repository not in OUTSIDE_FILES:
            return match[0]
        return f"]({posixpath.relpath(in_repository, here or '.')})"

    return LINK.sub(point_inside, markdown)


#: A reST role left before inline code once Markdown has rendered ``:func:`train```.
REST_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):(?=<code>)")


def on_page_content(html, page, config, files):
    return REST_ROLE.sub("", html)
