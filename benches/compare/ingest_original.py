#!/usr/bin/env python3
"""A faithful re-implementation of the original project's CreateMetadataSqlite.py, for timing.

Like the original: walks the shard folders, loads each gallery-dl JSON with `json` in a
multiprocessing pool, drops records whose tags are objects, joins tags with commas, normalises
dates to 'YYYY-MM-DD HH:MM:SS', and writes every row with INSERT OR REPLACE in one transaction.

    python3 ingest_original.py DATASET_DIR DB_PATH [PROCESSES]
"""
import json
import os
import sqlite3
import sys
from datetime import datetime
from multiprocessing import Pool

SCHEMA = """CREATE TABLE IF NOT EXISTS illusts(filename TEXT PRIMARY KEY, id INTEGER, title TEXT,
  type TEXT, restrict INTEGER, user_name TEXT, user_account TEXT, tags TEXT,
  create_date TIMESTAMP, page_count INTEGER, width INTEGER, height INTEGER,
  sanity_level INTEGER, x_restrict INTEGER, total_view INTEGER, total_bookmarks INTEGER,
  is_bookmarked BOOLEAN, visible BOOLEAN, is_muted BOOLEAN, illust_ai_type INTEGER,
  illust_book_style INTEGER, num INTEGER, date TIMESTAMP, rating TEXT, suffix TEXT,
  category TEXT, subcategory TEXT, url TEXT, date_url TEXT, extension TEXT)"""
COLUMNS = ["filename", "id", "title", "type", "restrict", "user_name", "user_account", "tags",
           "create_date", "page_count", "width", "height", "sanity_level", "x_restrict",
           "total_view", "total_bookmarks", "is_bookmarked", "visible", "is_muted",
           "illust_ai_type", "illust_book_style", "num", "date", "rating", "suffix", "category",
           "subcategory", "url", "date_url", "extension"]


def norm_date(s):
    if not s:
        return None
    try:
        return datetime.fromisoformat(s).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    tags = m.get("tags") or []
    if any(not isinstance(t, str) for t in tags):
        return None  # the original dropped records whose tags were objects
    user = m.get("user") or {}
    filename = os.path.basename(path)[: -len(".json")]
    filename = filename.rsplit(".", 1)[0]
    row = dict(m)
    row.update(filename=filename, user_name=user.get("name"), user_account=user.get("account"),
               tags=",".join(tags), create_date=norm_date(m.get("create_date")),
               date=norm_date(m.get("date")))
    return tuple(row.get(c) for c in COLUMNS)


def main():
    root, db = sys.argv[1], sys.argv[2]
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count()
    paths = [os.path.join(d, f) for d, _, files in os.walk(root)
             if not os.path.basename(d).startswith(".") for f in files if f.endswith(".json")]
    with Pool(processes) as pool:
        rows = [r for r in pool.map(load, paths, chunksize=256) if r is not None]
    conn = sqlite3.connect(db)
    conn.execute(SCHEMA)
    with conn:
        conn.executemany(
            f"INSERT OR REPLACE INTO illusts ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
            rows)
    conn.close()
    print(f"{len(rows)} rows from {len(paths)} files")


if __name__ == "__main__":
    main()
