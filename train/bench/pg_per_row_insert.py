"""Per-row SQLAlchemy inserts of prediction rows, the baseline of the
PostgreSQL sink benchmark (docs/BENCHMARKS.md, "PostgreSQL sink").

It does what the FastAPI tutorial's POST /predict does for every prediction:
a new Session, ``session.add(PredictionLog(...))``, ``session.commit()``,
``session.refresh(log)``, ``session.close()`` -- one transaction per row,
through the SQLAlchemy ORM and psycopg 3 -- on the same prediction rows the
sink wrote (read from --source, a copy of the sink's table that
``BenchmarkSinkEndToEnd`` leaves with STREAMSCORE_DEV_BENCH_SOURCE_TABLE).

    python train/bench/pg_per_row_insert.py --dsn postgres://u@127.0.0.1:5432/db \
        --source bench_source --rows 20000

Prints one JSON line: rows, seconds, rows_per_s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone

from sqlalchemy import BigInteger, DateTime, Float, Integer, String, create_engine, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class PredictionLog(Base):
    """The sink's columns, plus the tutorial's serial id primary key."""

    __tablename__ = "bench_sqlalchemy_per_row"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    model: Mapped[str] = mapped_column(String)
    model_version: Mapped[str] = mapped_column(String)
    event_id: Mapped[str | None] = mapped_column(String, nullable=True)
    key: Mapped[str | None] = mapped_column(String, nullable=True)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    scored_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    label: Mapped[str | None] = mapped_column(String, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict] = mapped_column(JSONB)
    features: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    source_topic: Mapped[str] = mapped_column(String)
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(timezone.utc))


COLUMNS = [
    "model", "model_version", "event_id", "key", "event_time", "scored_time", "label", "score",
    "probabilities", "features", "source_topic", "source_partition", "source_offset",
]


def sqlalchemy_url(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    raise SystemExit(f"--dsn: want a postgres:// URL, got {dsn.split('@')[-1]!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", required=True, help="postgres:// URL")
    ap.add_argument("--source", default="bench_source", help="table holding the sink's rows")
    ap.add_argument("--rows", type=int, default=20000, help="rows to insert (the first ones of --source)")
    args = ap.parse_args()

    engine = create_engine(sqlalchemy_url(args.dsn))
    with engine.begin() as conn:
        cols = ", ".join(COLUMNS)
        src = conn.execute(text(f"SELECT {cols} FROM {args.source} ORDER BY source_partition, source_offset LIMIT :n"),
                           {"n": args.rows}).mappings().all()
        conn.execute(text(f"DROP TABLE IF EXISTS {PredictionLog.__tablename__}"))
    if len(src) < args.rows:
        print(f"pg_per_row_insert: {args.source} holds {len(src)} rows, fewer than --rows {args.rows}", file=sys.stderr)
        return 1
    Base.metadata.create_all(engine)
    session_local = sessionmaker(autocommit=False, autoflush=False, bind=engine)

    start = time.perf_counter()
    for r in src:
        db = session_local()  # the tutorial's get_db(): one session per request
        try:
            log = PredictionLog(**dict(r))
            db.add(log)
            db.commit()
            db.refresh(log)
        finally:
            db.close()
    secs = time.perf_counter() - start

    with engine.connect() as conn:
        n = conn.execute(select(PredictionLog.id).order_by(PredictionLog.id.desc()).limit(1)).scalar_one()
    if n != len(src):
        print(f"pg_per_row_insert: last id {n}, want {len(src)}", file=sys.stderr)
        return 1
    print(json.dumps({"rows": len(src), "seconds": round(secs, 3), "rows_per_s": round(len(src) / secs, 1),
                      "sqlalchemy": __import__("sqlalchemy").__version__,
                      "psycopg": __import__("psycopg").__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
