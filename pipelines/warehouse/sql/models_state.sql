SELECT name, digest FROM meta.model_state
