-- Note a migration as applied. Parameters: version, name.
INSERT INTO {schema}.migrations (version, name) VALUES (%(version)s, %(name)s)
