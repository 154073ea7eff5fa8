"""rio-tiler rendering tiles directly (run in its own virtualenv by bench_tiles.py): prints tiles/s.

argv: cog path, zoom, "x,y;x,y;...", repeats, threads
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from rio_tiler.colormap import cmap
from rio_tiler.io import Reader


def main() -> None:
    path, zoom, tiles, repeats, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    coords = [tuple(int(v) for v in t.split(",")) for t in tiles.split(";")]
    colormap = cmap.get("viridis")

    def render(xy: tuple[int, int]) -> int:
        with Reader(path) as src:
            img = src.tile(xy[0], xy[1], zoom, expression="(b3-b1)/(b3+b1)")
        img.rescale(in_range=((-1, 1),))
        return len(img.render(img_format="PNG", colormap=colormap))

    for xy in coords:  # warm-up
        render(xy)
    work = coords * repeats
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        sizes = list(pool.map(render, work))
    elapsed = time.perf_counter() - start
    print(json.dumps({"tiles_per_second": len(work) / elapsed, "bytes": sum(sizes)}))


if __name__ == "__main__":
    main()
