-- The audit log is listed by when each change happened, not by insertion (PostgreSQL dialect; the
-- twin in the other folder has the same name). Never edited once applied.
CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_tenant_time ON audit_log (tenant_id, at, id);
