"""The Qt binding itself: PySide6 6.12.0 dropped a reference to True on every Python emit, so an app
that emits a few thousand signals (progress, thumbnails) crashed with "bool_dealloc"."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    changed = Signal(int)


def test_emitting_signals_keeps_python_reference_counts_intact():
    emitter = _Emitter()
    received = []
    emitter.changed.connect(received.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for value in range(1000):
        emitter.changed.emit(value)
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert len(received) == 1000
    # A few references may come and go elsewhere; a leak per emit would show as -1000.
    assert abs(after[0] - before[0]) < 50 and abs(after[1] - before[1]) < 50
