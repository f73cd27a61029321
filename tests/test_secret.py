"""The installation's secret key is made once, even when the first ones to need it are several threads at once
(sends of one instant, each in its scheduler's thread), and kept for later runs."""

from __future__ import annotations

import stat
import threading

from hub import secret


def test_threads_needing_the_first_key_at_once_all_get_the_one_kept(config, tmp_path, monkeypatch):
    monkeypatch.delenv("HUB_SECRET_KEY", raising=False)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "fresh"))
    start, keys, errors = threading.Barrier(8), [], []

    def first_use():
        start.wait()
        try:
            keys.append(secret.secret_key(config))
        except Exception as exc:  # noqa: BLE001 - a thread's failure is what this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    kept = (tmp_path / "fresh" / secret.KEY_FILE)
    assert set(keys) == {kept.read_bytes().strip()} and len(keys) == 8
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [p.name for p in kept.parent.iterdir()] == [secret.KEY_FILE]  # no temporary file left
