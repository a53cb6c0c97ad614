"""Fill a warehouse straight from the sandbox's world: now `pipelines.sync.snapshot.populate`.

Kept so `bench/compile.py` and `bench/serve.py` import it unchanged; new code imports
`pipelines.sync.snapshot` directly, which the tests can use without depending on the benchmarks.
"""

from pipelines.sync.snapshot import populate

__all__ = ["populate"]
