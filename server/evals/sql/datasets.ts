import type pg from 'pg';
import type { Dataset, EvalCase, EvalTarget, Expectation } from '../../../shared/evals.js';

type Db = Pick<pg.ClientBase, 'query'>;

interface DatasetRow {
  id: string;
  name: string;
  description: string;
  target: EvalTarget;
  created_by: string;
  created_at: Date;
  case_count: number;
}

const toDataset = (r: DatasetRow): Dataset => ({
  id: r.id,
  name: r.name,
  description: r.description,
  target: r.target,
  caseCount: r.case_count,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
});

const DATASET_COLUMNS = `d.id, d.name, d.description, d.target, d.created_by, d.created_at,
  (SELECT count(*)::int FROM eval_cases c WHERE c.dataset_id = d.id) AS case_count`;

/** Inserts a dataset; false when the name is taken. */
export async function insertDataset(db: Db, d: { id: string; name: string; description: string; target: EvalTarget; createdBy: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO eval_datasets (id, name, description, target, created_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
    [d.id, d.name, d.description, JSON.stringify(d.target), d.createdBy],
  );
  return rowCount === 1;
}

export async function listDatasets(db: Db): Promise<Dataset[]> {
  const { rows } = await db.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM eval_datasets d ORDER BY d.name`);
  return rows.map(toDataset);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A dataset by id or by name. `lock` holds it (FOR UPDATE) until the caller's transaction ends. */
export async function findDataset(db: Db, idOrName: string, lock = false): Promise<Dataset | null> {
  const byId = UUID.test(idOrName);
  const { rows } = await db.query<DatasetRow>(`SELECT ${DATASET_COLUMNS} FROM eval_datasets d WHERE ${byId ? 'd.id = $1::uuid' : 'd.name = $1'}${lock ? ' FOR UPDATE' : ''}`, [idOrName]);
  return rows[0] ? toDataset(rows[0]) : null;
}

interface CaseRow {
  id: string;
  idx: number;
  input: unknown;
  expectation: Expectation;
  created_at: Date;
}

const toCase = (r: CaseRow): EvalCase => ({ id: r.id, index: r.idx, input: r.input, expectation: r.expectation, createdAt: r.created_at.toISOString() });

/** Appends cases after the dataset's last one (the caller holds the dataset's row lock). */
export async function insertCases(db: Db, datasetId: string, cases: { id: string; input: unknown; expectation: Expectation }[]): Promise<EvalCase[]> {
  const { rows } = await db.query<CaseRow>(
    `WITH base AS (SELECT coalesce(max(idx), -1) AS last FROM eval_cases WHERE dataset_id = $1)
     INSERT INTO eval_cases (id, dataset_id, idx, input, expectation)
     SELECT (e.value->>'id')::uuid, $1, base.last + e.ord::int, e.value->'input', e.value->'expectation'
       FROM base, jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, ord)
     RETURNING id, idx, input, expectation, created_at`,
    [datasetId, JSON.stringify(cases.map((c) => ({ id: c.id, input: c.input ?? null, expectation: c.expectation })))],
  );
  return rows.map(toCase).sort((a, b) => a.index - b.index);
}

export async function listCases(db: Db, datasetId: string): Promise<EvalCase[]> {
  const { rows } = await db.query<CaseRow>(`SELECT id, idx, input, expectation, created_at FROM eval_cases WHERE dataset_id = $1 ORDER BY idx`, [datasetId]);
  return rows.map(toCase);
}
