// CheXpert CSV format, labels and policies. Browser-safe: pure string and array logic only.

/** The 14 CheXpert observations, in the column order of the release CSVs. */
export const CHEXPERT_OBSERVATIONS = [
  'No Finding',
  'Enlarged Cardiomediastinum',
  'Cardiomegaly',
  'Lung Opacity',
  'Lung Lesion',
  'Edema',
  'Consolidation',
  'Pneumonia',
  'Atelectasis',
  'Pneumothorax',
  'Pleural Effusion',
  'Pleural Other',
  'Fracture',
  'Support Devices',
] as const;

export type Observation = (typeof CHEXPERT_OBSERVATIONS)[number];

/** The 5 CheXpert competition tasks (Irvin et al. 2019), the default training targets. */
export const COMPETITION_TASKS = [
  'Atelectasis',
  'Cardiomegaly',
  'Consolidation',
  'Edema',
  'Pleural Effusion',
] as const satisfies readonly Observation[];

/** The non-label columns of the release CSVs, in order. */
export const CHEXPERT_META_COLUMNS = ['Path', 'Sex', 'Age', 'Frontal/Lateral', 'AP/PA'] as const;

/** One label cell: 1 positive, 0 negative, -1 uncertain, null blank (not mentioned in the report). */
export type LabelValue = 1 | 0 | -1 | null;

/**
 * One image with labels under any task names (a generic labelled CSV: `Nodule`, `Mass`, ...); CheXpert's
 * records are the case whose labels are the 14 observations.
 */
export interface LabelledRecord {
  /** As written in the CSV, e.g. `CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`. */
  path: string;
  sex: string;
  /** NaN when the cell is empty or not a number. */
  age: number;
  frontalLateral: 'Frontal' | 'Lateral' | string;
  /** `AP`, `PA`, `LL`, `RL` or '' (lateral rows). */
  apPa: string;
  labels: Record<string, LabelValue>;
}

/** One CSV row of a CheXpert split. */
export interface ChexpertRecord extends LabelledRecord {
  labels: Record<Observation, LabelValue>;
}

/**
 * How uncertain (-1) labels become targets (Irvin et al. 2019):
 * `ones` (U-Ones) -> 1, `zeros` (U-Zeros) -> 0, `ignore` (U-Ignore) -> masked out of the loss.
 */
export type UncertaintyPolicy = 'ones' | 'zeros' | 'ignore';

/** How blank labels (observation not mentioned) become targets: `zeros` (the usual choice), `ones`, or `ignore` (masked). */
export type BlankPolicy = 'zeros' | 'ones' | 'ignore';

/**
 * View selection. `frontal` = every frontal image, `AP` / `PA` = frontal images of that projection,
 * `lateral` = lateral images, `all` = everything. A list keeps rows that match any entry.
 */
export type ViewName = 'all' | 'frontal' | 'lateral' | 'AP' | 'PA';
export type ViewFilter = ViewName | readonly ViewName[];

export interface LabelPolicy {
  /**
   * For every task when given. Unset: U-Ones for CheXpert's observations (the default of every release so far)
   * and {@link OTHER_TASK_UNCERTAINTY} for any other task name (see {@link taskUncertainty}).
   */
  uncertainty?: UncertaintyPolicy | string;
  /** Per task name, overriding `uncertainty` (a run's config records them: RUN/config.json `taskUncertainty`). */
  taskUncertainty?: Readonly<Record<string, UncertaintyPolicy | string>>;
  blanks?: BlankPolicy | string;
}

/**
 * The uncertainty policy of a task that is not one of CheXpert's observations when none is given: U-Zeros
 * (-1 -> 0). An uncertain finding of a hospital's own label set is most often read as "not confirmed"; U-Ones
 * stays the default for CheXpert's names, where it is the paper's choice.
 */
export const OTHER_TASK_UNCERTAINTY: UncertaintyPolicy = 'zeros';

/**
 * Whether `name` is one of CheXpert's 14 observations, spelled as the release spells it.
 * @example isChexpertObservation('Edema'); // true
 */
export function isChexpertObservation(name: string): name is Observation {
  return (CHEXPERT_OBSERVATIONS as readonly string[]).includes(name);
}

/**
 * The uncertainty policy each task gets: `policy.taskUncertainty[task]`, else `policy.uncertainty` when given,
 * else U-Ones for CheXpert's observations and {@link OTHER_TASK_UNCERTAINTY} for other names.
 * @example taskUncertainty(['Edema', 'Nodule']); // { Edema: 'ones', Nodule: 'zeros' }
 */
export function taskUncertainty(tasks: readonly string[], policy: Pick<LabelPolicy, 'uncertainty' | 'taskUncertainty'> = {}): Record<string, UncertaintyPolicy> {
  const out: Record<string, UncertaintyPolicy> = {};
  for (const t of tasks) {
    const own = policy.taskUncertainty?.[t];
    if (own !== undefined) out[t] = normalizeUncertainty(own);
    else if (policy.uncertainty !== undefined) out[t] = normalizeUncertainty(policy.uncertainty);
    else out[t] = isChexpertObservation(t) ? 'ones' : OTHER_TASK_UNCERTAINTY;
  }
  return out;
}

/**
 * Normalises policy spellings: `U-Ones`, `u_ones`, `ones`, `1` -> `ones`; likewise for zeros/ignore.
 * @example normalizeUncertainty('U-Ignore'); // 'ignore'
 */
export function normalizeUncertainty(policy: string | undefined): UncertaintyPolicy {
  if (policy === undefined) return 'ones';
  const p = policy.toLowerCase().replace(/^u[-_ ]?/, '');
  if (p === 'ones' || p === '1' || p === 'one') return 'ones';
  if (p === 'zeros' || p === '0' || p === 'zero') return 'zeros';
  if (p === 'ignore' || p === 'mask') return 'ignore';
  throw new Error(`Unknown uncertainty policy "${policy}": use one of U-Ones ('ones'), U-Zeros ('zeros'), U-Ignore ('ignore').`);
}

/**
 * Normalises the blank-label policy (`zeros` by default).
 * @example normalizeBlanks('ignore'); // 'ignore'
 */
export function normalizeBlanks(policy: string | undefined): BlankPolicy {
  if (policy === undefined) return 'zeros';
  const p = policy.toLowerCase();
  if (p === 'zeros' || p === '0' || p === 'zero' || p === 'negative' || p === 'negatives') return 'zeros';
  if (p === 'ones' || p === '1' || p === 'one' || p === 'positive') return 'ones';
  if (p === 'ignore' || p === 'mask') return 'ignore';
  throw new Error(`Unknown blank-label policy "${policy}": use 'zeros' (blanks are negatives), 'ones' or 'ignore'.`);
}

/**
 * Checks task names against the 14 observations (case-insensitive) and returns their canonical spelling.
 * @example resolveTasks(['edema', 'Pleural Effusion']); // ['Edema', 'Pleural Effusion']
 */
export function resolveTasks(tasks: readonly string[] = COMPETITION_TASKS): Observation[] {
  if (tasks.length === 0) throw new Error('No tasks chosen: pass at least one CheXpert observation (default: the 5 competition tasks).');
  const out: Observation[] = [];
  for (const t of tasks) {
    const key = t.trim().toLowerCase().replace(/[_-]/g, ' ');
    const found = CHEXPERT_OBSERVATIONS.find((o) => o.toLowerCase() === key);
    if (!found) {
      throw new Error(`Unknown CheXpert task "${t}". Valid tasks: ${CHEXPERT_OBSERVATIONS.join(', ')}.`);
    }
    if (out.includes(found)) throw new Error(`Task "${found}" is listed twice.`);
    out.push(found);
  }
  return out;
}

/**
 * RFC 4180 CSV parser: quoted fields with commas, doubled quotes and line breaks; CRLF or LF; a UTF-8 BOM is dropped.
 * A trailing empty line does not produce a row. Text after a closing quote (`"x"y`) is an error naming the line and column.
 * @example parseCsv('a,"b,c"\n1,"say ""hi"""'); // [['a','b,c'],['1','say "hi"']]
 */
export function parseCsv(text: string): string[][] {
  return parseCsvLines(text).rows;
}

/** {@link parseCsv}, plus the 1-based line on which each row starts (rows may span lines inside quotes). */
export function parseCsvLines(text: string): { rows: string[][]; lines: number[] } {
  const rows: string[][] = [];
  const lines: number[] = [];
  let row: string[] = [];
  let field = '';
  let inQuotes = false;
  let fieldStarted = false;
  let closedQuote = false;
  let line = 1;
  let rowLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  const endField = () => {
    row.push(field);
    field = '';
    fieldStarted = false;
    closedQuote = false;
  };
  const endRow = () => {
    endField();
    // A line holding nothing at all is skipped (trailing newline, blank lines); `,` alone is a row of two empty fields.
    if (!(row.length === 1 && row[0] === '')) {
      rows.push(row);
      lines.push(rowLine);
    }
    row = [];
  };
  for (; i < n; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          inQuotes = false;
          closedQuote = true;
        }
      } else {
        if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) line++;
        field += c;
      }
      continue;
    }
    if (closedQuote && c !== ',' && c !== '\n' && c !== '\r') {
      throw new Error(
        `CSV line ${line}, column ${row.length + 1}: text after the closing quote of a quoted field ("${field}"${c}...). ` +
          'Quote the whole field and double the quotes inside it ("a""b").',
      );
    }
    if (c === '"' && !fieldStarted) {
      inQuotes = true;
      fieldStarted = true;
    } else if (c === ',') {
      endField();
    } else if (c === '\n') {
      endRow();
      rowLine = ++line;
    } else if (c === '\r') {
      if (text[i + 1] === '\n') i++;
      endRow();
      rowLine = ++line;
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (inQuotes) throw new Error(`CSV ends inside a quoted field opened on line ${rowLine}: a closing double quote is missing.`);
  if (field !== '' || row.length > 0 || closedQuote) endRow();
  return { rows, lines };
}

function quoteCsv(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Parses one label cell as the release writes it: `1.0`, `0.0`, `-1.0`, `` (blank); integers are accepted too.
 * @example parseLabel('-1.0'); // -1
 */
export function parseLabel(cell: string): LabelValue {
  const s = cell.trim();
  if (s === '') return null;
  const v = Number(s);
  if (v === 1) return 1;
  if (v === 0) return 0;
  if (v === -1) return -1;
  throw new Error(`Invalid CheXpert label "${cell}": expected 1, 0, -1 (uncertain) or an empty cell (blank).`);
}

/**
 * Parses a CheXpert train.csv / valid.csv (the release's header, in any column order).
 * @example const rows = parseChexpertCsv(await (await fetch('valid.csv')).text());
 */
export function parseChexpertCsv(text: string): ChexpertRecord[] {
  const { rows: table, lines } = parseCsvLines(text);
  if (table.length === 0) throw new Error('The CheXpert CSV is empty: expected a header line (Path,Sex,Age,Frontal/Lateral,AP/PA,<14 observations>).');
  const header = table[0].map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  const missing = [...CHEXPERT_META_COLUMNS.filter((c) => c === 'Path'), ...CHEXPERT_OBSERVATIONS].filter((c) => col(c) < 0);
  if (missing.length > 0) {
    throw new Error(`The CheXpert CSV lacks the column(s) ${missing.map((m) => `"${m}"`).join(', ')}; found: ${header.join(', ')}. Is this a CheXpert train.csv / valid.csv?`);
  }
  const iPath = col('Path');
  const iSex = col('Sex');
  const iAge = col('Age');
  const iFL = col('Frontal/Lateral');
  const iAP = col('AP/PA');
  const iObs = CHEXPERT_OBSERVATIONS.map((o) => col(o));
  const out: ChexpertRecord[] = [];
  for (let r = 1; r < table.length; r++) {
    const cells = table[r];
    const line = lines[r];
    // a short row would read its missing labels as blanks (negatives); a long one has shifted cells
    if (cells.length < header.length) {
      throw new Error(
        `CheXpert CSV line ${line}, column ${cells.length + 1} ("${header[cells.length]}"): the row has ${cells.length} cells but the header has ${header.length}. ` +
          'Is a cell missing, or a path with a comma not quoted?',
      );
    }
    const extra = cells.findIndex((c, i) => i >= header.length && c.trim() !== '');
    if (extra >= 0) {
      throw new Error(
        `CheXpert CSV line ${line}, column ${extra + 1}: the row has ${cells.length} cells but the header has ${header.length}. ` +
          'Is a path with a comma not quoted?',
      );
    }
    const cell = (i: number) => (i >= 0 ? cells[i] : '');
    const path = cell(iPath).trim();
    if (path === '') throw new Error(`CheXpert CSV line ${line}: the Path cell is empty.`);
    const labels = {} as Record<Observation, LabelValue>;
    CHEXPERT_OBSERVATIONS.forEach((o, k) => {
      try {
        labels[o] = parseLabel(cell(iObs[k]));
      } catch (e) {
        throw new Error(`CheXpert CSV line ${line}, column ${iObs[k] + 1} ("${o}"): ${(e as Error).message}`);
      }
    });
    const ageText = cell(iAge).trim();
    let frontalLateral = cell(iFL).trim();
    if (frontalLateral === '') frontalLateral = /lateral/i.test(path) ? 'Lateral' : 'Frontal';
    out.push({
      path,
      sex: cell(iSex).trim(),
      age: ageText === '' ? NaN : Number(ageText),
      frontalLateral,
      apPa: cell(iAP).trim(),
      labels,
    });
  }
  return out;
}

function formatLabel(v: LabelValue): string {
  return v === null ? '' : v === 1 ? '1.0' : v === 0 ? '0.0' : '-1.0';
}

/**
 * Writes records as a release-style CSV (header, `1.0` / `0.0` / `-1.0` / blank cells, LF line ends).
 * @example const csv = formatChexpertCsv(rows);
 */
export function formatChexpertCsv(records: readonly ChexpertRecord[]): string {
  const lines = [[...CHEXPERT_META_COLUMNS, ...CHEXPERT_OBSERVATIONS].map(quoteCsv).join(',')];
  for (const r of records) {
    const cells = [
      r.path,
      r.sex,
      Number.isFinite(r.age) ? String(r.age) : '',
      r.frontalLateral,
      r.apPa,
      ...CHEXPERT_OBSERVATIONS.map((o) => formatLabel(r.labels[o])),
    ];
    lines.push(cells.map(quoteCsv).join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * Turns one record's labels into targets and a loss mask (1 = counts, 0 = masked) for the chosen tasks; uncertain
 * labels follow {@link taskUncertainty}. A task the record has no label for is an error (not a silent blank).
 * @example const { y, mask } = labelTargets(row, COMPETITION_TASKS, { uncertainty: 'ignore' });
 */
export function labelTargets(
  record: { readonly labels: Readonly<Record<string, LabelValue>> },
  tasks: readonly string[] = COMPETITION_TASKS,
  policy: LabelPolicy = {},
): { y: Float32Array; mask: Float32Array } {
  const unc = taskUncertainty(tasks, policy);
  const blanks = normalizeBlanks(policy.blanks);
  const y = new Float32Array(tasks.length);
  const mask = new Float32Array(tasks.length).fill(1);
  tasks.forEach((t, k) => {
    const v = record.labels[t];
    if (v === undefined) throw new Error(`No label "${t}" in this record (its labels: ${Object.keys(record.labels).join(', ')}).`);
    if (v === 1) y[k] = 1;
    else if (v === 0) y[k] = 0;
    else if (v === -1) {
      if (unc[t] === 'ones') y[k] = 1;
      else if (unc[t] === 'ignore') mask[k] = 0;
    } else {
      if (blanks === 'ones') y[k] = 1;
      else if (blanks === 'ignore') mask[k] = 0;
    }
  });
  return { y, mask };
}

/**
 * Whether a record passes a view filter (see `ViewFilter`).
 * @example records.filter((r) => matchesView(r, 'frontal'));
 */
export function matchesView(record: Pick<ChexpertRecord, 'frontalLateral' | 'apPa'>, views: ViewFilter = 'all'): boolean {
  const list: readonly ViewName[] = typeof views === 'string' ? [views] : views;
  if (list.length === 0) throw new Error('Empty view filter: use "all", "frontal", "lateral", "AP", "PA" or a list of them.');
  const fl = record.frontalLateral.toLowerCase();
  const ap = record.apPa.toUpperCase();
  return list.some((v) => {
    switch (v) {
      case 'all':
        return true;
      case 'frontal':
        return fl === 'frontal';
      case 'lateral':
        return fl === 'lateral';
      case 'AP':
        return fl === 'frontal' && ap === 'AP';
      case 'PA':
        return fl === 'frontal' && ap === 'PA';
      default:
        throw new Error(`Unknown view "${String(v)}": use "all", "frontal", "lateral", "AP" or "PA".`);
    }
  });
}

/** The dataset folder names of the releases; CSV paths start with one of them. */
export const CHEXPERT_FOLDER_NAMES = ['CheXpert-v1.0-small', 'CheXpert-v1.0'] as const;

/**
 * Folders (joined with '/') where a split CSV may live, given what the user passed: the dataset folder
 * itself or its parent.
 * @example chexpertRootCandidates('/data'); // ['/data', '/data/CheXpert-v1.0-small', '/data/CheXpert-v1.0']
 */
export function chexpertRootCandidates(dir: string): string[] {
  const d = dir.replace(/[\\/]+$/, '') || '/';
  const sep = d.endsWith('/') ? '' : '/';
  return [d, ...CHEXPERT_FOLDER_NAMES.map((n) => `${d}${sep}${n}`)];
}

/**
 * The image path relative to the dataset folder (the one holding the CSVs). CSV paths start with the
 * dataset folder's own name (`CheXpert-v1.0-small/train/...`); that first segment is dropped whatever it is
 * called, so a renamed dataset folder still works. Paths already relative (`train/...`) are kept.
 * @example imagePathInDataset('CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg'); // 'valid/patient64541/...'
 */
export function imagePathInDataset(csvPath: string): string {
  const p = csvPath.replace(/\\/g, '/').replace(/^\.\//, '');
  if (p.startsWith('/')) throw new Error(`Absolute image path "${csvPath}" in a CheXpert CSV: paths must be relative (CheXpert-v1.0-small/train/...).`);
  const parts = p.split('/');
  if (parts.some((s) => s === '..')) throw new Error(`Image path "${csvPath}" leaves the dataset folder ("..").`);
  if (parts.length >= 2 && /^(train|valid|test)$/i.test(parts[0])) return p;
  if (parts.length >= 2) return parts.slice(1).join('/');
  return p;
}
