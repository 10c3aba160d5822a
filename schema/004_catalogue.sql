-- Code lists: the reference vocabularies of the flows (INPS prestazioni, ISTAT
-- and SIUSS user areas, regional spending areas, funding channels, the SINA
-- and SINBA enumerations, household relations). The rows come from the CSV
-- files of schema/codes/, compiled into the binary; `cartella migrate` syncs
-- them after the SQL migrations (server/migrate.c). Reference data: readable
-- by every tenant, not tenant-owned, written only by the owner role.

-- One row per list. version grows by one each time the list's CSV changes
-- (checksum = SHA-256 of the CSV text); loaded_at is the last such change.
CREATE TABLE code_list (
    name      text PRIMARY KEY CHECK (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    version   integer NOT NULL CHECK (version >= 1),
    checksum  text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    loaded_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON code_list TO cartella_app;

-- One row per code ever published in a list. Codes are never deleted (old
-- records keep pointing at them): a code that leaves the CSV is closed with
-- valid_to (the last day it was in force, inclusive). valid_from is NULL for
-- codes of a list's first load (in force before Cartella knew the list) and
-- the load date for codes added later.
-- attrs holds the CSV's extra columns (e.g. notes); position keeps the CSV's
-- order, which is the order users expect (1, 2, ..., 10; FAM, DIS, ELD ...).
CREATE TABLE code (
    list       text NOT NULL REFERENCES code_list (name),
    code       text NOT NULL CHECK (length(code) BETWEEN 1 AND 32),
    label_it   text NOT NULL CHECK (length(label_it) BETWEEN 1 AND 500),
    attrs      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attrs) = 'object'),
    position   integer NOT NULL DEFAULT 0,
    valid_from date,
    valid_to   date,
    PRIMARY KEY (list, code),
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from)
);
GRANT SELECT ON code TO cartella_app;
