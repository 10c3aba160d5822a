'use strict';
// The benchmark's peer (docs/performance.md): the benchmarked endpoints of
// Cartella written the way most teams would, with Fastify, node-postgres and
// sodium-native. The same SQL (named, hence prepared, queries), the same
// row-level security context (app.resolve_session / set_config), the same
// audit insert, the same encryption formats and keys (data keys wrapped with
// the KEK in tenant_key, XChaCha20-Poly1305 values, BLAKE2b blind indexes).
// It is a yardstick, not a product: it serves only these routes.

const fs = require('node:fs');
const crypto = require('node:crypto');
const sodium = require('sodium-native');
const Fastify = require('fastify');
const { Pool } = require('pg');

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.POOL_SIZE || 4),
});
const KEK = fs.readFileSync(process.env.CARTELLA_KEK_FILE);
const SESSION_IDLE = String(process.env.CARTELLA_SESSION_IDLE || 1800);
const PAGE = 50;

// ------------------------------------------------------------------ SQL

const PERSON_COLUMNS =
  'id, version, fiscal_code_enc, surname_enc, given_name_enc, birth_date_enc, ' +
  'birth_place_enc, address_enc, contacts_enc, fiscal_code_kind, sex, citizenship, ' +
  'residence_istat, sealed, restricted, ' +
  'to_char(created_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') AS created_at, ' +
  'to_char(updated_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') AS updated_at';
const IV_COLUMNS =
  'i.id, i.version, i.case_id, i.beneficiary_id, i.service_id, s.code, s.name, ' +
  's.inps_code, i.nature, to_char(i.start_date, \'YYYY-MM-DD\') AS start_date, ' +
  'to_char(i.end_date, \'YYYY-MM-DD\') AS end_date, ' +
  'to_char(i.delivery_date, \'YYYY-MM-DD\') AS delivery_date, ' +
  'i.monthly_amount_cents, i.total_amount_cents, i.hours_per_month, i.means_test, ' +
  'i.dsu_protocol, i.share_tenant_cents, i.share_user_cents, i.share_health_cents, ' +
  'i.management, i.provider_id, i.in_charge, i.user_area, i.application_protocol, ' +
  'i.status, ' +
  'to_char(i.created_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') AS created_at, ' +
  'to_char(i.updated_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') AS updated_at, ' +
  '(SELECT string_agg(f.channel || \':\' || f.amount_cents, \',\' ' +
  '        ORDER BY c.position, f.channel) ' +
  '   FROM intervention_funding f ' +
  '   LEFT JOIN code c ON c.list = f.channel_list AND c.code = f.channel ' +
  '  WHERE f.tenant_id = i.tenant_id AND f.intervention_id = i.id) AS funding, ' +
  'to_char(coalesce(i.start_date, i.delivery_date), \'YYYY-MM-DD\') AS sort_date, ' +
  'i.service_tenant_id FROM intervention i ' +
  'LEFT JOIN service_catalogue s ON s.tenant_id = i.service_tenant_id AND s.id = i.service_id ';

const SQL = {
  session: 'SELECT session_id, user_id, username, tenant_id, tenant_code, roles, second_factor ' +
    'FROM app.resolve_session(decode($1, \'hex\'), $2::int)',
  throttle: 'SELECT coalesce(ceil(extract(epoch FROM max(blocked_until) - now())), 0)::bigint AS wait ' +
    'FROM login_throttle WHERE key_hash IN (decode($1, \'hex\'), decode($2, \'hex\')) ' +
    'AND blocked_until > now()',
  client: 'SELECT tenant_id, encode(secret_hash, \'hex\') AS secret_hash, scopes, enabled, tenant_code ' +
    'FROM app.resolve_client($1::uuid)',
  context: 'SELECT set_config(\'app.tenant\', coalesce($1, \'\'), true), ' +
    'set_config(\'app.user\', coalesce($2, \'\'), true)',
  clientUsed: 'UPDATE api_client SET last_used_at = now() WHERE tenant_id = $1 AND id = $2 ' +
    'AND (last_used_at IS NULL OR last_used_at < now() - interval \'60 seconds\')',
  key: 'SELECT version, wrapped FROM tenant_key WHERE tenant_id = $1 AND kind = $2 AND version = $3::int',
  audit: 'INSERT INTO audit_event (tenant_id, user_id, roles, action, object_type, object_id, ' +
    'outcome, request_id, client, purpose, break_glass) ' +
    'SELECT $1, $2, $3::text[], $4, o.type, o.id, $7::smallint, $8, $9, coalesce(g.id::text, $10), ' +
    'g.id IS NOT NULL FROM unnest($5::text[], $6::uuid[]) AS o(type, id) ' +
    'LEFT JOIN LATERAL (SELECT app.break_glass_purpose(o.type, o.id) AS id ' +
    'WHERE (SELECT EXISTS (SELECT 1 FROM break_glass_grant b WHERE b.tenant_id = app.tenant() ' +
    'AND b.user_id = app.user_id() AND b.expires_at > now()))) g ON true',
  personOne: `SELECT ${PERSON_COLUMNS} FROM person WHERE tenant_id = $1 AND id = $2`,
  personListCf: `SELECT ${PERSON_COLUMNS} FROM person WHERE tenant_id = $1 AND fiscal_code_bidx = $3 ` +
    'AND ($2::uuid IS NULL OR id > $2) AND ($3::bytea IS NULL OR fiscal_code_bidx = $3) ' +
    'AND ($4::bytea[] IS NULL OR name_bidx = ANY ($4) OR surname_bidx = $5) ORDER BY id LIMIT $6',
  caseOne: 'SELECT person_id, area FROM social_case WHERE tenant_id = $1 AND id = $2',
  ivListCase: `SELECT ${IV_COLUMNS}WHERE i.tenant_id = $1 AND i.case_id = $4 ` +
    'AND ($2::date IS NULL OR (coalesce(i.start_date, i.delivery_date), i.id) < ($2, $3::uuid)) ' +
    'AND ($4::uuid IS NULL OR i.case_id = $4) AND ($5::uuid IS NULL OR i.beneficiary_id = $5) ' +
    'AND ($6::uuid IS NULL OR i.service_id = $6) AND ($7::text IS NULL OR i.status = $7) ' +
    'AND ($8::date IS NULL OR coalesce(i.end_date, i.delivery_date, \'infinity\') >= $8) ' +
    'AND ($9::date IS NULL OR coalesce(i.start_date, i.delivery_date) <= $9) ' +
    'ORDER BY coalesce(i.start_date, i.delivery_date) DESC, i.id DESC LIMIT $10',
  ivOne: `SELECT ${IV_COLUMNS}WHERE i.tenant_id = $1 AND i.id = $2`,
  personBirth: 'SELECT id, birth_date_enc FROM person WHERE tenant_id = $1 AND id = $2',
  service: 'SELECT s.tenant_id, s.id, s.active, s.nature FROM service_catalogue s ' +
    'WHERE (s.tenant_id = $1 OR s.tenant_id = (SELECT t.parent_id FROM tenant t WHERE t.id = $1)) ' +
    'AND (($2::uuid IS NOT NULL AND s.id = $2::uuid) OR ($2::uuid IS NULL AND s.code = $3)) ' +
    'ORDER BY s.tenant_id = $1 DESC LIMIT 1',
  codeState: 'SELECT valid_to IS NULL AS valid FROM code WHERE list = $1 AND code = $2',
  ivInsert: 'INSERT INTO intervention (tenant_id, id, case_id, beneficiary_id, service_tenant_id, ' +
    'service_id, nature, start_date, end_date, delivery_date, monthly_amount_cents, ' +
    'total_amount_cents, hours_per_month, means_test, dsu_protocol, share_tenant_cents, ' +
    'share_user_cents, share_health_cents, management, provider_id, in_charge, user_area, ' +
    'application_protocol, status, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, ' +
    '$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, ' +
    '$25, $25)',
  fundingClear: 'DELETE FROM intervention_funding WHERE tenant_id = $1 AND intervention_id = $2',
  fundingAdd: 'INSERT INTO intervention_funding (tenant_id, intervention_id, channel, amount_cents) ' +
    'VALUES ($1, $2, $3, $4)',
  ivFlows: 'SELECT f.flow_id, f.operation, f.ts_flusso, f.outcome, f.outcome_detail, ' +
    'to_char(f.outcome_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS"Z"\'), f.outcome_siuss_id, ' +
    '(SELECT refusal FROM flow_state st WHERE st.tenant_id = $1 AND st.intervention_id = $2) AS refusal ' +
    'FROM (SELECT 1) one LEFT JOIN flow_record f ON f.tenant_id = $1 AND f.intervention_id = $2 ' +
    'ORDER BY f.ts_flusso',
  reportTenant: 'SELECT id, code, name, kind, parent_id FROM tenant ' +
    'WHERE ($1::text IS NULL AND id = $2) OR code = $1',
  codes: 'SELECT code, label_it FROM code WHERE list = $1 ORDER BY position, code',
  facts: 'SELECT kind, area, channel, management, amount FROM app.spending_facts($1, $2)',
  ente: 'SELECT belfiore_code, name, siuss_operator_cf FROM tenant WHERE id = $1',
  flowsLock: 'SELECT pg_advisory_xact_lock(hashtextextended(\'cartella.flows.\' || $1, 0))',
  flowsChanged: 'SELECT intervention_id, seq FROM flow_change WHERE tenant_id = $1 ' +
    'ORDER BY seq LIMIT $2::int',
  flows: 'SELECT f.id, f.flow_id, f.ts_flusso, f.operation, f.payload_enc, f.person_id ' +
    'FROM flow_record f JOIN person p ON p.tenant_id = f.tenant_id AND p.id = f.person_id ' +
    'WHERE f.tenant_id = $1 AND f.ts_flusso > $2::bigint AND NOT p.restricted ' +
    'ORDER BY f.ts_flusso LIMIT $3::int',
};

// Named queries: node-postgres prepares each once per connection.
const q = (client, name, values) => client.query({ name, text: SQL[name], values });

// ------------------------------------------------------------------ crypto

const keyCache = new Map(); // "tenant|kind|version" -> Buffer

async function tenantKey(client, tenant, kind, version) {
  const id = `${tenant}|${kind}|${version}`;
  let key = keyCache.get(id);
  if (key) return key;
  const { rows } = await q(client, 'key', [tenant, kind, version]);
  if (rows.length !== 1) throw new Error('no such key');
  const wrapped = rows[0].wrapped;
  key = Buffer.alloc(32);
  sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
    key, null, wrapped.subarray(24), Buffer.from(`cartella-key|${kind}|${tenant}|${version}`),
    wrapped.subarray(0, 24), KEK);
  keyCache.set(id, key);
  return key;
}

// Decrypts a stored value: version(1) | key version(4, BE) | nonce(24) | ciphertext+tag.
async function decrypt(client, tenant, table, column, rowId, stored) {
  if (stored === null) return null;
  const kv = stored.readUInt32BE(1);
  const key = await tenantKey(client, tenant, 'data', kv);
  const ct = stored.subarray(29);
  const out = Buffer.alloc(ct.length - sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES);
  sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
    out, null, ct, Buffer.from(`${table}|${column}|${tenant}|${rowId}|${kv}`),
    stored.subarray(5, 29), key);
  return out.toString('utf8');
}

function blake2b(parts, key) {
  const out = Buffer.alloc(32);
  const input = Buffer.concat(parts.map((p) => Buffer.from(p)));
  if (key) sodium.crypto_generichash(out, input, key);
  else sodium.crypto_generichash(out, input);
  return out;
}

async function blindIndex(client, tenant, column, value) {
  const indexKey = await tenantKey(client, tenant, 'index', 1);
  return blake2b([value], blake2b(['cartella-bidx|', column], indexKey));
}

// ------------------------------------------------------------------ requests

class HttpError extends Error {
  constructor(status, title) {
    super(title);
    this.status = status;
  }
}

async function staff(client, req) {
  const m = /^Bearer +(\S+)$/.exec(req.headers.authorization || '');
  if (!m) throw new HttpError(401, 'Autenticazione richiesta');
  const hash = blake2b([m[1]]).toString('hex');
  const { rows } = await q(client, 'session', [hash, SESSION_IDLE]);
  if (rows.length !== 1) throw new HttpError(401, 'Autenticazione richiesta');
  const s = rows[0];
  return { tenant: s.tenant_id, user: s.user_id, roles: s.roles, client: null };
}

async function integration(client, req) {
  const m = /^Basic +(\S+)$/.exec(req.headers.authorization || '');
  const [id, secret] = m ? Buffer.from(m[1], 'base64').toString().split(':') : [];
  if (!id || !secret) throw new HttpError(401, 'Autenticazione richiesta');
  const throttleKey = (kind, a) => blake2b(['cartella-login-v1', kind, '\0', a, '\0', '']).toString('hex');
  const { rows: t } = await q(client, 'throttle', [throttleKey('client', id), throttleKey('address', req.ip)]);
  if (Number(t[0].wait) > 0) throw new HttpError(429, 'Troppi tentativi');
  const { rows } = await q(client, 'client', [id]);
  if (rows.length !== 1) throw new HttpError(401, 'Autenticazione richiesta');
  const c = rows[0];
  await q(client, 'context', [c.tenant_id, null]);
  const sub = blake2b(['cartella-subkey|', 'client-secret'], await tenantKey(client, c.tenant_id, 'index', 1));
  const got = blake2b(['cartella-client-secret|v1|', id, '|', secret], sub);
  if (!c.enabled || !crypto.timingSafeEqual(got, Buffer.from(c.secret_hash, 'hex')) ||
      !c.scopes.includes('siuss')) throw new HttpError(401, 'Autenticazione richiesta');
  await q(client, 'clientUsed', [c.tenant_id, id]);
  return { tenant: c.tenant_id, user: null, roles: [], client: `api:${id}` };
}

// One transaction per request: authenticate, run the handler, write the
// audit rows of the objects it touched, commit.
function route(action, authenticate, roles, handler) {
  return async (req, reply) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const who = await authenticate(client, req);
      if (roles && !who.roles.some((r) => roles.includes(r))) throw new HttpError(403, 'Accesso negato');
      const audit = [];
      const { status = 200, body } = await handler(client, who, req, audit);
      if (audit.length === 0) audit.push([null, null]);
      await q(client, 'audit', [who.tenant, who.user, who.roles, action, audit.map((a) => a[0]),
        audit.map((a) => a[1]), status, crypto.randomUUID(), who.client, null]);
      await client.query('COMMIT');
      return reply.code(status).send(body);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (!(err instanceof HttpError)) throw err;
      return reply.code(err.status).type('application/problem+json')
        .send({ type: 'about:blank', title: err.message, status: err.status });
    } finally {
      client.release();
    }
  };
}

// ------------------------------------------------------------------ handlers

async function personJson(client, tenant, row) {
  const v = {};
  for (const c of ['fiscal_code', 'surname', 'given_name', 'birth_date', 'birth_place', 'address', 'contacts']) {
    v[c] = await decrypt(client, tenant, 'person', c, row.id, row[`${c}_enc`]);
  }
  return {
    id: row.id, fiscal_code: v.fiscal_code, fiscal_code_kind: row.fiscal_code_kind,
    surname: v.surname || '', given_name: v.given_name || '', sex: row.sex,
    birth_date: v.birth_date, birth_place: v.birth_place, citizenship: row.citizenship,
    residence: row.residence_istat, address: v.address ? JSON.parse(v.address) : null,
    contacts: v.contacts ? JSON.parse(v.contacts) : [], sealed: row.sealed,
    restricted: row.restricted, version: Number(row.version), created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const cents = (c) => (c === null ? null : (Number(c) / 100).toFixed(2));

function interventionJson(r) {
  return {
    id: r.id, version: Number(r.version), case_id: r.case_id, beneficiary_id: r.beneficiary_id,
    service: { id: r.service_id, code: r.code, name: r.name, inps_code: r.inps_code },
    nature: r.nature, start_date: r.start_date, end_date: r.end_date, delivery_date: r.delivery_date,
    monthly_amount: cents(r.monthly_amount_cents), total_amount: cents(r.total_amount_cents),
    hours_per_month: r.hours_per_month, means_test: r.means_test, dsu_protocol: r.dsu_protocol,
    shares: { tenant: cents(r.share_tenant_cents), user: cents(r.share_user_cents),
      health: cents(r.share_health_cents) },
    funding: (r.funding || '').split(',').filter(Boolean).map((f) => {
      const [channel, amount] = f.split(':');
      return { channel, amount: cents(amount) };
    }),
    management: r.management, provider_id: r.provider_id, in_charge: r.in_charge,
    user_area: r.user_area, application_protocol: r.application_protocol, status: r.status,
    created_at: r.created_at, updated_at: r.updated_at,
  };
}

async function personRead(client, who, req, audit) {
  const { rows } = await q(client, 'personOne', [who.tenant, req.params.id]);
  if (rows.length !== 1) throw new HttpError(404, 'Risorsa non trovata');
  audit.push(['person', rows[0].id]);
  return { body: await personJson(client, who.tenant, rows[0]) };
}

async function personSearch(client, who, req, audit) {
  const cf = String(req.query.fiscal_code || '').replace(/\s+/g, '').toUpperCase();
  if (!/^([A-Z0-9]{16}|[0-9]{11})$/.test(cf)) throw new HttpError(400, 'fiscal_code non valido');
  const bidx = await blindIndex(client, who.tenant, 'person.fiscal_code', cf);
  const { rows } = await q(client, 'personListCf', [who.tenant, null, bidx, null, null, PAGE + 1]);
  const items = [];
  for (const row of rows.slice(0, PAGE)) {
    const p = await personJson(client, who.tenant, row);
    if (p.fiscal_code !== cf) continue; // a blind index only narrows: confirm on the plaintext
    items.push(p);
    audit.push(['person', row.id]);
  }
  return { body: { items, next_cursor: rows.length > PAGE ? rows[PAGE - 1].id : null } };
}

async function interventionList(client, who, req, audit) {
  const caseId = req.query.case_id;
  const { rows: c } = await q(client, 'caseOne', [who.tenant, caseId]);
  if (c.length !== 1) throw new HttpError(404, 'Risorsa non trovata');
  const { rows } = await q(client, 'ivListCase',
    [who.tenant, null, null, caseId, null, null, null, null, null, PAGE + 1]);
  const items = rows.slice(0, PAGE).map(interventionJson);
  for (const i of items) audit.push(['intervention', i.id]);
  const last = rows.length > PAGE ? rows[PAGE - 1] : null;
  return { body: { items, next_cursor: last ? `${last.sort_date}.${last.id}` : null } };
}

const toCents = (s) => (s === null || s === undefined ? null : String(Math.round(Number(s) * 100)));

async function interventionCreate(client, who, req, audit) {
  const b = req.body || {};
  const uuid = /^[0-9a-f-]{36}$/i;
  if (!uuid.test(b.beneficiary_id || '') || !uuid.test(b.case_id || '') || !uuid.test(b.service || '')) {
    throw new HttpError(400, 'Dati non validi');
  }
  const { rows: p } = await q(client, 'personBirth', [who.tenant, b.beneficiary_id]);
  const { rows: c } = await q(client, 'caseOne', [who.tenant, b.case_id]);
  if (p.length !== 1 || c.length !== 1 || c[0].person_id !== b.beneficiary_id) {
    throw new HttpError(404, 'Risorsa non trovata');
  }
  const { rows: s } = await q(client, 'service', [who.tenant, b.service, b.service]);
  if (s.length !== 1 || !s[0].active) throw new HttpError(400, 'Servizio non valido');
  for (const f of b.funding || []) {
    const { rows } = await q(client, 'codeState', ['funding-channels', f.channel]);
    if (rows.length !== 1 || !rows[0].valid) throw new HttpError(400, 'Canale non valido');
  }
  if (b.user_area !== undefined) {
    const { rows } = await q(client, 'codeState', ['siuss-user-areas', String(b.user_area)]);
    if (rows.length !== 1 || !rows[0].valid) throw new HttpError(400, 'Area non valida');
  }
  const id = crypto.randomUUID();
  const sh = b.shares || {};
  await q(client, 'ivInsert', [who.tenant, id, b.case_id, b.beneficiary_id, s[0].tenant_id, s[0].id,
    b.nature, b.start_date || null, b.end_date || null, b.delivery_date || null,
    toCents(b.monthly_amount), toCents(b.total_amount), b.hours_per_month ?? null,
    b.means_test ?? null, b.dsu_protocol || null, toCents(sh.tenant), toCents(sh.user),
    toCents(sh.health), b.management || 'single', b.provider_id || null, Boolean(b.in_charge),
    b.user_area ?? null, b.application_protocol || null, 'active', who.user]);
  await q(client, 'fundingClear', [who.tenant, id]);
  for (const f of b.funding || []) {
    await q(client, 'fundingAdd', [who.tenant, id, f.channel, toCents(f.amount)]);
  }
  const { rows } = await q(client, 'ivOne', [who.tenant, id]);
  const { rows: flows } = await q(client, 'ivFlows', [who.tenant, id]);
  audit.push(['intervention', id]);
  const body = interventionJson(rows[0]);
  body.siuss = { refusal: flows[0].refusal, flows: flows.filter((f) => f.flow_id) };
  return { status: 201, body };
}

async function spendingReport(client, who, req, audit) {
  const year = Number(req.query.year);
  if (!Number.isInteger(year) || year < 2000 || year > 2100) throw new HttpError(400, 'year non valido');
  const { rows: t } = await q(client, 'reportTenant', [null, who.tenant]);
  const { rows: areas } = await q(client, 'codes', ['regional-spending-areas']);
  const { rows: channels } = await q(client, 'codes', ['funding-channels']);
  const { rows } = await q(client, 'facts', [who.tenant, String(year)]);
  const byArea = new Map(areas.map((a) => [a.code, { area: a.code, label: a.label_it, total: 0, channels: {} }]));
  for (const r of rows) {
    const a = byArea.get(r.area);
    if (!a) continue;
    const amount = Number(r.amount);
    a.total += amount;
    a.channels[r.channel] = (a.channels[r.channel] || 0) + amount;
  }
  audit.push([null, null]);
  return {
    body: {
      tenant: t[0].code, year, channels: channels.map((c) => ({ code: c.code, label: c.label_it })),
      areas: [...byArea.values()].map((a) => ({ ...a, total: (a.total / 100).toFixed(2) })),
    },
  };
}

// ------------------------------------------------------------------ SIUSS flows

const XML_ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };
const attr = (name, v) => (v === null || v === undefined ? ''
  : ` ${name}="${String(v).replace(/[&<>"'\t\n\r]/g, (ch) => XML_ESC[ch]).replace(/[\x00-\x1f\x7f]/g, ' ')}"`);
const PRESTAZIONE = [['PresenzaProvaMezzi', 'means_test'], ['CaratterePrestazione', 'nature'],
  ['NumeroProtocolloDSU', 'dsu_number'], ['AnnoProtocolloDSU', 'dsu_year'], ['DataDSU', 'dsu_date'],
  ['CodicePrestazione', 'code'], ['DenominazionePrestazione', 'denomination'],
  ['ProtocolloDomanda', 'protocol'], ['DataInizioPrestazione', 'start'],
  ['DataFinePrestazione', 'end'], ['DataErogazionePrestazione', 'delivery'],
  ['ImportoPrestazione', 'total'], ['PeriodoErogazione', 'period'], ['ImportoMensile', 'monthly'],
  ['ImportoQuotaEnte', 'share_ente'], ['ImportoQuotaUtente', 'share_utente'],
  ['ImportoQuotaSSN', 'share_ssn'], ['OreServizioMensile', 'hours'], ['PresaCarico', 'in_charge'],
  ['AreaUtenza', 'area']];

function flowXml(ente, name, snap, op) {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Flusso${attr('xmlns', 'http://inps.it/Casellario')}>\n` +
    `<IdentificazioneFlusso${attr('Nome', name)}>` +
    `<Ente${attr('Codice', ente.belfiore_code)}${attr('Denominazione', [...(ente.name || '')].slice(0, 100).join(''))}` +
    `${attr('Indirizzo', ente.belfiore_code)}${attr('CFOperatore', ente.siuss_operator_cf)}/>\n` +
    '</IdentificazioneFlusso>\n' +
    `<Beneficiario${attr('CodiceFiscale', snap.cf)}>` +
    `<Anagrafica${attr('Cognome', snap.surname)}${attr('Nome', snap.name)}${attr('AnnoNascita', snap.birth_year)}` +
    `${attr('LuogoNascita', snap.birth_place)}${attr('Genere', snap.sex)}${attr('CodiceCittadinanza', snap.citizenship)}/>\n` +
    `<Indirizzo${attr('CodiceRegione', snap.region)}${attr('CodiceComune', snap.comune)}${attr('CodiceNazione', snap.country)}/>\n` +
    `<PrestazioniSociali${attr('TipoOperazione', op)}${PRESTAZIONE.map(([a, k]) => attr(a, snap[k])).join('')}/>\n` +
    '</Beneficiario>\n</Flusso>\n';
}

function rfc3339ms(ms) {
  return new Date(Number(ms)).toISOString();
}

async function flows(client, who, req, audit) {
  const since = String(req.query.since || '');
  const limit = req.query.limit === undefined ? 10 : Number(req.query.limit);
  if (!/^[0-9]{1,21}$/.test(since)) throw new HttpError(400, 'since obbligatorio');
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new HttpError(400, 'limit non valido');
  const { rows: e } = await q(client, 'ente', [who.tenant]);
  if (e.length !== 1 || !e[0].belfiore_code || !e[0].siuss_operator_cf) throw new HttpError(404, 'Ente non configurato');
  await q(client, 'flowsLock', [who.tenant]);
  const { rows: changed } = await q(client, 'flowsChanged', [who.tenant, 1000]);
  // The peer hands out flows; making them from changed interventions is
  // Cartella's (the bench lets Cartella catch up before measuring).
  if (changed.length > 0) throw new HttpError(503, 'Flussi da generare');
  const { rows } = await q(client, 'flows', [who.tenant, since, limit]);
  const out = [];
  for (const r of rows) {
    const snap = JSON.parse(await decrypt(client, who.tenant, 'flow_record', 'payload', r.id, r.payload_enc));
    out.push({
      codice_ente: e[0].belfiore_code, denominazione_ente: e[0].name, id_flusso: r.flow_id,
      tipo: 'PS_PSA_SINA', ts_flusso: rfc3339ms(r.ts_flusso),
      flusso: Buffer.from(flowXml(e[0], r.flow_id, snap, r.operation)).toString('base64'),
    });
    audit.push(['person', r.person_id]);
  }
  return { body: { elenco_flussi: out } };
}

// ------------------------------------------------------------------ server

const app = Fastify({ logger: false });
const SOCIAL = ['social_worker', 'service_manager'];
app.get('/status', async () => ({ status: 'ok' }));
app.get('/api/v1/persons/:id', route('person.read', staff, SOCIAL, personRead));
app.get('/api/v1/persons', route('person.search', staff, [...SOCIAL, 'administrative'], personSearch));
app.get('/api/v1/interventions', route('intervention.read', staff, [...SOCIAL, 'administrative'], interventionList));
app.post('/api/v1/interventions', route('intervention.write', staff, [...SOCIAL, 'administrative'], interventionCreate));
app.get('/api/v1/reports/regional-spending',
  route('report.spending', staff, ['administrative', 'service_manager', 'planning_office'], spendingReport));
app.get('/waas/v1/flussi', route('waas.flows.read', integration, null, flows));

app.listen({ host: '127.0.0.1', port: Number(process.env.PORT || 8090) }).catch((err) => {
  console.error(err);
  process.exit(1);
});
process.on('SIGTERM', () => app.close().then(() => pool.end()).then(() => process.exit(0)));
