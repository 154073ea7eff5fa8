"""Fetch the map page's JavaScript and CSS from the npm registry into ``asyncwf/server/static/``.

Usage::

    python scripts/build_static.py

Run it when updating Leaflet; the files it writes are committed and ship in
the package, so pages never load anything from a CDN.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEAFLET = "leaflet@1.9.4"
TARGET = ROOT / "asyncwf" / "server" / "static" / "leaflet"
FILES = ["leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png", "images/marker-icon.png",
         "images/marker-icon-2x.png", "images/marker-shadow.png"]  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["npm", "pack", LEAFLET, "--silent"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
        (archive,) = Path(folder).glob("leaflet-*.tgz")
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        shutil.rmtree(TARGET, ignore_errors=True)
        for name in FILES:
            destination = TARGET / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(folder) / "package" / "dist" / name, destination)
        shutil.copyfile(Path(folder) / "package" / "LICENSE", TARGET / "LICENSE")
        (TARGET / "VERSION").write_text(LEAFLET + "\n")
    print(f"wrote {LEAFLET} to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
