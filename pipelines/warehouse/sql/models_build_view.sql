DROP VIEW IF EXISTS {{ relation }};
CREATE VIEW {{ relation }} AS {{ select }};
