{{ config(materialized='view') }}
-- Words too common to tie a project to a client by name.
SELECT word FROM (VALUES
    ('the'), ('and'), ('for'), ('with'), ('ltd'), ('limited'), ('llc'), ('inc'), ('company'), ('group'),
    ('studio'), ('studios'), ('design'), ('trust'), ('hotels'), ('hotel'), ('property'), ('properties'),
    ('developments'), ('estates'), ('holdings'), ('foods'), ('wines'), ('schools'), ('dental'), ('gallery'),
    ('fitness'), ('bakery'), ('brewing'), ('coffee'), ('roasters'), ('house'), ('new'), ('phase'), ('stage'),
    ('project'), ('old'), ('client'), ('fees'), ('interior'), ('interiors'), ('office')
) AS t(word)
