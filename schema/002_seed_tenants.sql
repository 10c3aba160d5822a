-- Reference data: the Ambito territoriale del Corsichese and its six Comuni
-- (ISTAT and Belfiore codes as published by ISTAT; capofila Cesano Boscone).
-- An administrator may change these rows later; membership is data.

INSERT INTO tenant (kind, code, name, valid_from)
VALUES ('ambito', 'corsichese', 'Ambito territoriale del Corsichese', DATE '2000-01-01');

INSERT INTO tenant (kind, code, name, istat_code, belfiore_code, parent_id)
SELECT 'comune', v.istat, v.name, v.istat, v.belfiore,
       (SELECT id FROM tenant WHERE code = 'corsichese')
  FROM (VALUES ('015011', 'A473', 'Assago'),
               ('015036', 'B240', 'Buccinasco'),
               ('015074', 'C565', 'Cesano Boscone'),
               ('015093', 'D045', 'Corsico'),
               ('015097', 'D229', 'Cusago'),
               ('015220', 'L409', 'Trezzano sul Naviglio')) AS v (istat, belfiore, name);
