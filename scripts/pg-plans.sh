#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of central's hot queries on a loaded PostgreSQL database, as
# Markdown (docs/postgres-plans.md holds one run on the 10,000,000-person database).
#   scripts/pg-plans.sh postgres://postgres@127.0.0.1:5432/onshi10m > /tmp/plans.md
# The statements are the ones in crates/onshi-store (rows.rs, medical.rs, pg.rs), as
# prepared statements with parameters, the way central runs them. Parameters are taken
# from the data (a person in the middle of the table). Writes are rolled back.
set -euo pipefail
URL=${1:?usage: pg-plans.sh POSTGRES_URL}
# Central's sessions plan with these settings (crates/onshi-store/src/pg.rs, SESSION_OPTIONS),
# and its prepared statements run on generic plans after their fifth execution (seen in
# pg_stat_statements: plans = 6 per connection), so that is the plan shown.
export PGOPTIONS="-c random_page_cost=1.1 -c plan_cache_mode=force_generic_plan ${PGOPTIONS:-}"
PSQL=(psql "$URL" -X -q -v ON_ERROR_STOP=1 -P pager=off)

run() { # title, sql (may use \gset variables set before)
  printf '\n### %s\n\n```\n' "$1"
  "${PSQL[@]}" -At <<SQL
$PARAMS
$2
SQL
  printf '```\n'
}

PARAMS=$(cat <<'SQL'
SELECT q.insurer_number AS ins, q.number_norm AS num, q.symbol_norm AS sym, p.birthdate AS bd,
       q.person_id AS pid, p.name AS pname
  FROM qualification q JOIN person p ON p.id = q.person_id
 WHERE q.id >= (SELECT max(id) / 2 FROM qualification) AND q.disqualification_date IS NULL
 ORDER BY q.id LIMIT 1 \gset
SELECT serial AS serial, person_id AS card_pid FROM card_certificate
 WHERE person_id >= :pid ORDER BY person_id LIMIT 1 \gset
SELECT person_id AS med_pid FROM claim_drug WHERE person_id >= :pid ORDER BY person_id LIMIT 1 \gset
SELECT name_kana AS kana FROM person WHERE id = :pid \gset
SELECT code AS fac FROM facility WHERE enabled = 1 ORDER BY code LIMIT 1 \gset
SELECT (extract(epoch FROM now()) * 1000000)::bigint AS now_us \gset
SQL
)

echo "Generated $(date -u '+%Y-%m-%d %H:%M UTC') on $("${PSQL[@]}" -At -c 'SHOW server_version'); rows: $("${PSQL[@]}" -At -c "SELECT string_agg(relname || ' ' || reltuples::bigint, ', ' ORDER BY relname) FROM pg_class WHERE relname IN ('person','qualification','card_certificate','verification','claim_drug','audit_log') AND relkind IN ('r','p')")"

run "Check by card data (FIND_BY_CARD)" "
PREPARE find_by_card(text, text, text, text, bigint, bigint) AS
SELECT q.id, q.person_id, q.insurer_number, q.symbol, q.number, q.branch, p.name, i.name, e.contribution_ratio, l.classification
  FROM qualification q JOIN person p ON p.id = q.person_id JOIN insurer i ON i.number = q.insurer_number
  LEFT JOIN elderly_recipient e ON e.qualification_id = CASE WHEN q.has_elderly <> 0 THEN q.id END LEFT JOIN limit_certificate l ON l.qualification_id = CASE WHEN q.has_limit <> 0 THEN q.id END
 WHERE q.insurer_number = \$1 AND q.number_norm = \$2 AND q.symbol_norm = \$3 AND p.birthdate = \$4
   AND (CAST(\$5 AS BIGINT) = 0 OR q.branch = \$6) ORDER BY q.id;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE find_by_card(:'ins', :'num', :'sym', :'bd', 0, NULL);"

run "Check by card data, coalesced: 40 concurrent checks in one statement (FIND_BY_CARDS_PG)" "
SELECT array_agg(i) AS ks_i, array_agg(ins) AS ks_ins, array_agg(num) AS ks_num, array_agg(sym) AS ks_sym,
       array_agg(bd) AS ks_bd, array_agg(NULL::bigint) AS ks_br
  FROM (SELECT row_number() OVER (ORDER BY q.id) - 1 AS i, q.insurer_number AS ins, q.number_norm AS num,
               q.symbol_norm AS sym, p.birthdate AS bd
          FROM qualification q JOIN person p ON p.id = q.person_id
         WHERE q.id >= (SELECT max(id) / 3 FROM qualification) ORDER BY q.id LIMIT 40) s \\gset
PREPARE find_by_cards(bigint[], text[], text[], text[], text[], bigint[]) AS
WITH k AS (SELECT * FROM UNNEST(\$1, \$2, \$3, \$4, \$5, \$6) AS k(i, ins, num, sym, bd, br))
SELECT q.id, q.person_id, q.insurer_number, q.symbol, q.number, q.branch, p.name, i.name, e.contribution_ratio,
       l.classification, k.i
  FROM k CROSS JOIN qualification q JOIN person p ON p.id = q.person_id JOIN insurer i ON i.number = q.insurer_number
  LEFT JOIN elderly_recipient e ON e.qualification_id = CASE WHEN q.has_elderly <> 0 THEN q.id END LEFT JOIN limit_certificate l ON l.qualification_id = CASE WHEN q.has_limit <> 0 THEN q.id END
 WHERE q.insurer_number = k.ins AND q.number_norm = k.num AND q.symbol_norm = k.sym AND p.birthdate = k.bd
   AND (k.br IS NULL OR q.branch = k.br) ORDER BY k.i, q.id;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE find_by_cards(:'ks_i', :'ks_ins', :'ks_num', :'ks_sym', :'ks_bd', :'ks_br');"

run "Check by card signature: certificate by serial (CARD_BY_SERIAL)" "
PREPARE card(text) AS SELECT serial, person_id, profile, not_after, issued_at, revoked_at, registered_at
  FROM card_certificate WHERE serial = \$1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE card(:'serial');"

run "Check by card signature: the person's qualifications (FIND_BY_PERSON)" "
PREPARE by_person(bigint) AS
SELECT q.id, q.insurer_number, q.symbol, q.number, p.name, i.name, e.contribution_ratio, l.classification
  FROM qualification q JOIN person p ON p.id = q.person_id JOIN insurer i ON i.number = q.insurer_number
  LEFT JOIN elderly_recipient e ON e.qualification_id = CASE WHEN q.has_elderly <> 0 THEN q.id END LEFT JOIN limit_certificate l ON l.qualification_id = CASE WHEN q.has_limit <> 0 THEN q.id END
 WHERE q.person_id = \$1 ORDER BY q.id;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_person(:card_pid);"

run "Check by smartphone: the person's physical cards (CARDS_OF_PERSON)" "
PREPARE cards_of(bigint) AS SELECT serial, person_id, profile, not_after, issued_at, revoked_at, registered_at
  FROM card_certificate WHERE person_id = \$1 ORDER BY issued_at;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE cards_of(:card_pid);"

run "Check by smartphone: physical card used here before (USED_PHYSICAL_CARD_AT)" "
PREPARE used(bigint, text) AS SELECT COUNT(*) FROM physical_card_use WHERE person_id = \$1 AND facility_code = \$2;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE used(:card_pid, :'fac');"

run "History insert (group commit, INSERT … UNNEST; 64 rows; rolled back)" "
BEGIN;
PREPARE ins(text[], text[], bigint[]) AS
INSERT INTO verification (request_id, facility_code, checked_at, reference_classification, processing_status, person_id)
SELECT r, f, t, '1', '1', 1 FROM UNNEST(\$1, \$2, \$3) AS u(r, f, t);
SELECT array_agg('plan-' || g) AS reqs, array_agg(:'fac'::text) AS facs, array_agg(:now_us + g) AS ats
  FROM generate_series(1, 64) g \\gset
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE ins(:'reqs', :'facs', :'ats');
ROLLBACK;"

run "History of a facility over a month (VERIFICATIONS, staff screens)" "
PREPARE hist(text, bigint, bigint, bigint) AS
SELECT request_id, facility_code, checked_at, validity, person_id FROM verification
 WHERE facility_code = \$1 AND checked_at >= \$2 AND checked_at < \$3 ORDER BY checked_at DESC, id DESC LIMIT \$4;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE hist(:'fac', :now_us - 30::bigint * 86400000000, :now_us, 100);"

run "Consented patients list (CONSENTS_VALID then PERSONS_PG for a page of 100; 2,000 consents of 20 facilities inserted and rolled back)" "
BEGIN;
INSERT INTO card_consent (check_request_id, facility_code, person_id, consented_at, available_until, information)
SELECT 'plan-' || g, CASE WHEN g % 20 = 0 THEN :'fac' ELSE 'F' || (g % 20) END, :pid + g,
       :now_us - g * 1000000::bigint, :now_us - g * 1000000::bigint + 86400000000, 'YZK,TKK'
  FROM generate_series(1, 2000) g;
ANALYZE card_consent;
PREPARE consents(text, bigint) AS
SELECT check_request_id, facility_code, person_id, consented_at, available_until, information
  FROM card_consent WHERE facility_code = \$1 AND available_until > \$2 AND consented_at <= \$2
 ORDER BY consented_at DESC, check_request_id DESC;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE consents(:'fac', :now_us);
PREPARE persons(bigint[]) AS
SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person WHERE id = ANY(\$1::bigint[]);
SELECT array_agg(:pid + g * 20)::text AS page_ids FROM generate_series(1, 100) g \\gset
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE persons(:'page_ids');
PREPARE valid(text, bigint, bigint) AS
SELECT check_request_id, information FROM card_consent
 WHERE facility_code = \$1 AND person_id = \$2 AND available_until > \$3 AND consented_at <= \$3 ORDER BY consented_at DESC;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE valid(:'fac', :pid + 20, :now_us);
ROLLBACK;"

run "Drug view (DRUGS, 3 years)" "
PREPARE drugs(bigint, text) AS
SELECT d.claim_id, d.dispensed_on, d.drug_code, d.drug_name, d.quantity, c.kind, c.month, c.facility_name
  FROM claim_drug d JOIN claim c ON c.id = d.claim_id
 WHERE d.person_id = \$1 AND d.dispensed_on >= \$2 ORDER BY d.dispensed_on DESC, d.claim_id, d.drug_code;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE drugs(:med_pid, to_char(now() - interval '3 years', 'YYYYMMDD'));"

run "Audit append: chain head (AUDIT_HEAD, partitioned audit_log)" "
PREPARE head AS SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE head;"

run "Insurer registration: registry lookup (PERSONS_BY_NAME_BIRTH)" "
PREPARE reg(text, text) AS SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person WHERE name = \$1 AND birthdate = \$2;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE reg(:'pname', :'bd');"

run "Insurer registration: nearest person when the name differs (PERSONS_BY_KANA_BIRTH)" "
PREPARE kana(text, text) AS SELECT id FROM person WHERE name_kana = \$1 AND birthdate = \$2;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE kana(:'kana', :'bd');"

run "Insurer registration: existing members under the card number (QUALIFICATIONS_BY_PREFIX)" "
PREPARE prefix(text, text, text) AS SELECT q.id, q.branch, q.person_id FROM qualification q
 WHERE q.insurer_number = \$1 AND q.number_norm = \$2 AND q.symbol_norm = \$3 ORDER BY q.id;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE prefix(:'ins', :'num', :'sym');"

run "Check that found nothing: pending registrations (PENDING_BY_CARD)" "
PREPARE pending(text, text, text, text) AS
SELECT r.insurer_number, r.received_date, CAST(0 AS BIGINT) FROM registration_pending r
  JOIN person s ON s.id = r.person_id WHERE r.insurer_number = \$1 AND r.number_norm = \$2 AND r.symbol_norm = \$3 AND s.birthdate = \$4
UNION ALL SELECT h.insurer_number, NULL, CAST(1 AS BIGINT) FROM registration_hold h
 WHERE h.insurer_number = \$1 AND h.number_norm = \$2 AND h.symbol_norm = \$3 AND h.birthdate = \$4;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE pending(:'ins', :'num', :'sym', :'bd');"

printf '\n### Index sizes and use counts (pg_stat_user_indexes)\n\n```\n'
"${PSQL[@]}" -c "SELECT relname AS table, indexrelname AS index, idx_scan AS scans, pg_size_pretty(pg_relation_size(indexrelid)) AS size
  FROM pg_stat_user_indexes WHERE schemaname = 'public' AND relname NOT LIKE '%\\_y20%' ORDER BY pg_relation_size(indexrelid) DESC LIMIT 40"
printf '```\n'
