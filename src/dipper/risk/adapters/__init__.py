"""Risk adapters: data files, model directories (artifacts and manifest) and the report's plots."""
