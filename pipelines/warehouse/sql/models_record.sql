INSERT INTO meta.model_state (name, digest, built_at) VALUES ({{ p('name') }}, {{ p('digest') }}, {{ p('built_at') }})
ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, built_at = excluded.built_at
