"""The one symlink rule for the files `deploy` copies (the local snapshot) and packs (the image).

A link whose target, after every link on the way, is inside the project is taken as what it
points to: its content is copied at the link's own path (a link to a folder is walked as that
folder). A link that leaves the project, dangles or loops is an error naming the link, its
target and what brought it in. Like Docker's build context (nothing outside the folder goes in)
and nginx's `disable_symlinks`: what is served or shipped never depends on a file the project
does not hold, and the copy never turns a link the server would refuse into a plain file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from mlserve.errors import SymlinkError

FIX = ("copy what it points to into the project (or move the link's target inside it), or remove the link; "
       "deploy follows links only when they stay inside the project")
# A config value may name a path outside the project: the predictor then reads it in place, uncopied.
CONFIG_HINT = FIX + "; or write the target's absolute path in the config (read in place, not copied)"


def _target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _refuse(link: Path, root: Path, brought_in_by: str, what: str, hint: str) -> SymlinkError:
    rel = link.relative_to(root).as_posix() if link.is_relative_to(root) else str(link)
    return SymlinkError(f"{brought_in_by}: '{rel}' is a symlink to '{_target(link)}', {what}", hint=hint)


def inside(path: Path, root: Path, brought_in_by: str, hint: str = FIX) -> Path:
    """`path` (a path under the resolved `root`), after checking that every link on it ends inside
    `root`; raises SymlinkError naming the first link that does not."""
    try:
        real = path.resolve(strict=True)
        if real.is_relative_to(root):
            return path
    except (OSError, RuntimeError):  # missing, dangling, or a loop (RuntimeError before Python 3.13)
        pass
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if not current.is_symlink():
            continue
        try:
            real = current.resolve(strict=True)
        except (OSError, RuntimeError):
            raise _refuse(current, root, brought_in_by, "which does not exist (or loops)", hint) from None
        if not real.is_relative_to(root):
            raise _refuse(current, root, brought_in_by, f"which resolves to {real}, outside the project {root}", hint)
    return path  # no link leaves: the path itself is missing, which is for the caller to judge


def walk(folder: Path, root: Path, brought_in_by: str,
         keep: Callable[[str, bool], bool] = lambda rel, is_dir: True, hint: str = FIX) -> Iterator[Path]:
    """Every file under `folder` (their paths under `folder`, links not resolved) that `keep(path
    relative to folder, is_dir)` accepts, in name order; every link is checked by `inside`."""
    inside(folder, root, brought_in_by, hint)
    yield from _walk(folder, folder, root, (brought_in_by, hint), keep, {folder.resolve()})


def _walk(top: Path, folder: Path, root: Path, why: tuple[str, str], keep, seen: set[Path]) -> Iterator[Path]:
    with os.scandir(folder) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        rel = path.relative_to(top).as_posix()
        try:
            is_dir = entry.is_dir()  # follows a link
        except OSError:  # a link loop
            is_dir = False
        if not keep(rel, is_dir):
            continue
        if entry.is_symlink():
            inside(path, root, *why)
        if is_dir:
            real = path.resolve()
            if any(s.is_relative_to(real) for s in seen):  # a link to a folder holding it: no end
                raise _refuse(path, root, why[0], "a folder that contains the link itself", why[1])
            yield from _walk(top, path, root, why, keep, seen | {real})
        elif entry.is_file():
            yield path
