"""translate_many inside Dask's map_partitions on a local multi-process cluster."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import distributed
import pandas as pd
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset


def test_translate_many_in_map_partitions(server: FakeServer, config_dir: Path) -> None:
    texts = [f"Satz Nummer {i}." for i in range(40)]
    frame = pd.DataFrame({"de": texts}, index=range(100, 140))
    # A Preset object travels to the workers by pickling; nothing else is shared with them.
    preset = Preset("Fake", server.base_url, "test-model", temperature=0.0)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        parts = dd.from_pandas(frame, npartitions=8)
        parts["en"] = parts["de"].map_partitions(
            compat_nb.translate_many, to="English", preset=preset, meta=("en", "object")
        )
        result = parts.compute()
        pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
    assert list(result.index) == list(range(100, 140))
    assert result["en"].tolist() == [f"TRANSLATED: {t}" for t in texts]
    assert len(server.chat_requests()) == 40
    assert {r.body["temperature"] for r in server.chat_requests()} == {0.0}
    # The workers inherited the config directory and recorded their runs there.
    assert len(compat_nb.history(limit=100)) == 40
