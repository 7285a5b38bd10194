"""Storage plumbing: engine, sessions, base metadata, column types, tenant scoping, audit, outbox."""
