"""Gallery scale: a history of 10,000 records — time to open the window with it, search latency,
and memory.

    python benchmarks/gallery_scale.py [--records 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

from common import fill_library, scratch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10000)
    args = parser.parse_args()
    home = scratch(f"scale-{args.records}")
    started = time.perf_counter()
    fill_library(home, args.records, size=64)
    fill_s = time.perf_counter() - started
    os.environ["DIFFUSION_STUDIO_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from desktop.library.settings import Settings
    from desktop.ui.application import create_window

    started = time.perf_counter()
    window = create_window(Settings())
    window.show()
    app.processEvents()
    open_s = time.perf_counter() - started

    # Search as typed: each query goes to SQLite and resets the model (the 150 ms debounce is left out).
    latencies = []
    for query in ("sneaker", "ocean plastic", "coral #99", "launch poster", "zzz-no-match", ""):
        started = time.perf_counter()
        window.gallery.search.setText(query)
        window.gallery._apply_filter()
        app.processEvents()
        latencies.append((time.perf_counter() - started) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    window.close()
    print(
        json.dumps(
            {
                "records": args.records,
                "fill_library_s": round(fill_s, 1),
                "window_open_s": round(open_s, 3),
                "search_ms_median": round(statistics.median(latencies), 1),
                "search_ms_max": round(max(latencies), 1),
                "peak_rss_mb": round(rss_mb, 1),
                "rss_before_window_mb": round(rss_before_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
