{{ config(materialized='table') }}
SELECT pw.user_id, pw.record_id AS project_id, pc.contact_id, pw.word
FROM {{ ref('int_name_words') }} AS pw
JOIN {{ ref('int_project_clients') }} AS pc ON pc.user_id = pw.user_id AND pc.project_id = pw.record_id
WHERE pw.kind = 'project'
  AND NOT EXISTS (SELECT 1 FROM {{ ref('int_name_words') }} AS cw
                  WHERE cw.user_id = pw.user_id AND cw.kind = 'client' AND cw.record_id = pc.contact_id
                    AND cw.word = pw.word)
