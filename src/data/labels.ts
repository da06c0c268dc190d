// Task names of any labelled CSV (a hospital's own findings, NIH ChestX-ray14's `Nodule`, `Mass`, ...): which
// columns are labels, which tasks a run trains, and which names are refused. Browser-safe: strings only.
import { COMPETITION_TASKS, type LabelValue, parseLabel, resolveTasks } from './chexpert.js';

/** Names of a labelled CSV's image path column (compared lower-case; `image index` is NIH ChestX-ray14's). */
export const CSV_PATH_COLUMNS = ['path', 'image', 'image_path', 'filename', 'file', 'image index'] as const;
/** Columns that are never labels (compared lower-case): image paths, split, views, sex, age (also NIH's `Patient Age`). */
const META_COLUMNS = new Set<string>([
  ...CSV_PATH_COLUMNS, 'split', 'viewposition', 'view', 'view position', 'frontal/lateral', 'ap/pa', 'sex', 'gender', 'patient gender', 'age', 'patient age',
]);

// Characters that break a CSV cell unquoted, a JSON key's readers, or a file name on some system; control
// characters break all three. A task name becomes a CSV column, a JSON key and part of figure file names.
const BAD_NAME = /[\u0000-\u001f\u007f",/\\:*?<>|]/;

/**
 * Checks that task names can go into our CSVs, JSON files and file names: non-empty, no control characters or
 * `" , / \ : * ? < > |`, not only dots, unique case-insensitively. `where` names the source in the error.
 * @example checkTaskNames(['Nodule', 'Mass'], 'labels.csv');
 */
export function checkTaskNames(names: readonly string[], where = 'the task list'): void {
  const seen = new Map<string, string>();
  for (const n of names) {
    if (n.trim() === '') throw new Error(`${where}: a label column has an empty name; give every label column a header.`);
    if (n !== n.trim()) throw new Error(`${where}: the label column "${n}" starts or ends with spaces; remove them.`);
    const bad = BAD_NAME.exec(n);
    if (bad) {
      const ch = bad[0].charCodeAt(0) < 0x20 || bad[0] === '\u007f' ? `control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')}` : `"${bad[0]}"`;
      throw new Error(`${where}: the label column "${n}" contains ${ch}, which breaks CSV, JSON or file names; rename the column (letters, digits, spaces, - _ . ( ) are fine).`);
    }
    if (/^\.+$/.test(n)) throw new Error(`${where}: the label column "${n}" is only dots, which is not a usable file name; rename it.`);
    const key = n.toLowerCase();
    const before = seen.get(key);
    if (before !== undefined) throw new Error(`${where}: the label columns "${before}" and "${n}" differ only in case; task names must be unique case-insensitively. Rename one.`);
    seen.set(key, n);
  }
}

/** Whether every non-blank cell of a column parses as a label (1, 0, -1 and their .0 forms) and one is not blank. */
function isLabelColumn(rows: readonly (readonly string[])[], col: number): boolean {
  let any = false;
  for (const r of rows) {
    const c = (r[col] ?? '').trim();
    if (c === '') continue;
    const v = Number(c);
    if (v !== 1 && v !== 0 && v !== -1) return false;
    any = true;
  }
  return any;
}

/**
 * The label columns of a labelled CSV: every column that is not a path, split, view, sex or age column and whose
 * non-blank values are all labels (1, 0, -1, 1.0, ...), with at least one non-blank value. `rows` excludes the header.
 * @example csvLabelColumns(['path', 'Nodule', 'Age'], [['a.png', '1', '61']]); // ['Nodule']
 */
export function csvLabelColumns(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return header.filter((h, i) => !META_COLUMNS.has(h.trim().toLowerCase()) && isLabelColumn(rows, i)).map((h) => h.trim());
}

/** CheXpert's spelling of an observation name (`edema`, `pleural_effusion`), or undefined for other names. */
function chexpertName(name: string): string | undefined {
  try {
    return resolveTasks([name])[0];
  } catch {
    return undefined;
  }
}

/**
 * The tasks a run trains on a labelled CSV, spelled as its header spells them (CheXpert's observations as the
 * release spells them, so their defaults and the paper comparison apply). `requested` names columns
 * case-insensitively; unset: CheXpert's 5 competition tasks when the CSV has them all, else every label column.
 * Errors name the CSV's label columns; names that would break files are refused (see {@link checkTaskNames}).
 * @example resolveCsvTasks(['path', 'Nodule', 'Mass'], rows, ['nodule']); // ['Nodule']
 */
export function resolveCsvTasks(header: readonly string[], rows: readonly (readonly string[])[], requested: readonly string[] | undefined, where = 'the CSV'): string[] {
  const columns = header.map((h) => h.trim());
  const labels = csvLabelColumns(columns, rows);
  // a column named like a CheXpert observation takes the release's spelling, so its defaults and the paper apply
  const canonical = (column: string) => {
    const chexpert = chexpertName(column);
    return chexpert !== undefined && chexpert.toLowerCase() === column.toLowerCase() ? chexpert : column;
  };
  if (requested === undefined) {
    const competition = COMPETITION_TASKS.every((t) => columns.some((c) => c.toLowerCase() === t.toLowerCase()));
    if (competition) return [...COMPETITION_TASKS];
    if (labels.length === 0) {
      throw new Error(`${where} has no label column: found ${columns.join(', ')}. A label column holds only 1, 0, -1 (uncertain) or blanks; the path, split, view, sex and age columns are not labels.`);
    }
    checkTaskNames(labels, where);
    return labels.map(canonical);
  }
  if (requested.length === 0) throw new Error(`No tasks chosen: pass at least one of the label columns of ${where} (${labels.join(', ') || 'none found'}).`);
  const tasks = requested.map((t) => {
    const want = [t.trim().toLowerCase(), chexpertName(t)?.toLowerCase()];
    const found = columns.filter((c) => want.includes(c.toLowerCase()) && !META_COLUMNS.has(c.toLowerCase()));
    if (found.length === 0) {
      throw new Error(`${where} has no label column "${t.trim()}"; its label columns are: ${labels.join(', ') || '(none)'} (columns found: ${columns.join(', ')}).`);
    }
    if (found.length > 1) throw new Error(`${where}: the label columns "${found[0]}" and "${found[1]}" differ only in case, so "${t.trim()}" is ambiguous; rename one.`);
    return canonical(found[0]!);
  });
  checkTaskNames(tasks, where);
  return tasks;
}

/**
 * One row's labels for `tasks` (header names matched case-insensitively), each cell parsed as CheXpert's parser
 * takes it; a bad cell is an error naming the line and the column.
 * @example csvRowLabels(['path', 'Nodule'], ['a.png', '1.0'], ['Nodule'], 2, 'labels.csv'); // { Nodule: 1 }
 */
export function csvRowLabels(header: readonly string[], row: readonly string[], tasks: readonly string[], line: number, where: string): Record<string, LabelValue> {
  const labels: Record<string, LabelValue> = {};
  for (const t of tasks) {
    const col = header.findIndex((h) => h.trim().toLowerCase() === t.toLowerCase());
    try {
      labels[t] = parseLabel(row[col] ?? '');
    } catch (e) {
      throw new Error(`${where}, line ${line}, column ${col + 1} ("${header[col]}"): ${(e as Error).message}`);
    }
  }
  return labels;
}
