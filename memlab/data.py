"""Shipped data: small, regenerable by one command, checked against a checksum manifest.

Every file in ``data/`` is produced by a generator module ``memlab/datagen/<name>.py`` that
defines ``FILENAME``, ``DESCRIPTION``, ``LICENCE`` and ``generate() -> bytes`` (deterministic:
same bytes every time). ``data/SHA256SUMS`` lists each file's checksum.

    memlab data verify        # every file present and matching its checksum
    memlab data regenerate    # rewrite every file from its generator and the manifest

Chapters read files through :func:`load_path`, which refuses a missing or corrupt file with a
message that says how to fix it. Nothing is downloaded, ever.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["DATA_DIR", "MANIFEST", "DataError", "generators", "verify", "regenerate",
           "load_path", "sha256"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MANIFEST = DATA_DIR / "SHA256SUMS"


class DataError(RuntimeError):
    """A shipped data file is missing, corrupt or unknown."""


@dataclass(frozen=True)
class Generator:
    filename: str
    description: str
    licence: str
    module: ModuleType

    def generate(self) -> bytes:
        out = self.module.generate()
        if not isinstance(out, bytes):
            raise TypeError(f"{self.module.__name__}.generate() must return bytes")
        return out


def generators() -> dict[str, Generator]:
    import memlab.datagen as pkg

    found = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        found[mod.FILENAME] = Generator(mod.FILENAME, mod.DESCRIPTION, mod.LICENCE, mod)
    return dict(sorted(found.items()))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: Path = MANIFEST) -> dict[str, str]:
    if not path.exists():
        raise DataError(f"checksum manifest {path} is missing; run `memlab data regenerate`")
    sums = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}:{n} is not '<sha256>  <file>': {line!r}")
        sums[parts[1]] = parts[0]
    return sums


def load_path(filename: str, data_dir: Path = DATA_DIR) -> Path:
    """Path of a shipped file after checking it against the manifest."""
    sums = read_manifest(data_dir / "SHA256SUMS")
    if filename not in sums:
        raise DataError(f"{filename!r} is not in {data_dir / 'SHA256SUMS'}; known: {sorted(sums)}")
    path = data_dir / filename
    if not path.exists():
        raise DataError(f"data file {path} is missing; run `memlab data regenerate`")
    got = sha256(path.read_bytes())
    if got != sums[filename]:
        raise DataError(f"data file {path} is corrupt (sha256 {got[:12]}... != manifest "
                        f"{sums[filename][:12]}...); run `memlab data regenerate`")
    return path


def verify(data_dir: Path = DATA_DIR) -> list[str]:
    """Check every generated file against the manifest; return the problems (empty = fine)."""
    problems = []
    try:
        sums = read_manifest(data_dir / "SHA256SUMS")
    except DataError as e:
        return [str(e)]
    for name in generators():
        if name not in sums:
            problems.append(f"{name}: not in the manifest")
            continue
        try:
            load_path(name, data_dir)
        except DataError as e:
            problems.append(str(e))
    return problems


def regenerate(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Write every generated file and the manifest; return {file: sha256}."""
    data_dir.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, gen in generators().items():
        payload = gen.generate()
        (data_dir / name).write_bytes(payload)
        sums[name] = sha256(payload)
    (data_dir / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    return sums
