"""Where jobs, documents, XF entities and results are kept: SQLite, PostgreSQL, local files, GCS."""
