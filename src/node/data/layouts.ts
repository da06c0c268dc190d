// Dataset layouts on disk: CheXpert, MIMIC-CXR-JPG (2.0.0 / 2.1.0), MIMIC-CXR's DICOM tree (same tables, .dcm
// files) and any CSV of image paths and label columns. `detectDataLayout` tells them apart; `loadDataset` opens
// the one found. The CLI's --data goes through here, so train, eval and the study take any of them.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { COMPETITION_TASKS, type LabelledRecord, matchesView, parseCsv, parseCsvLines, resolveTasks } from '../../data/chexpert.js';
import { CSV_PATH_COLUMNS, csvRowLabels, resolveCsvTasks } from '../../data/labels.js';
import { MIMIC_FILES, joinMimicTables, mimicSplit, mimicView } from '../../data/mimic.js';
import { type ChexpertDataset, type ChexpertLoadOptions, findChexpertCsv, loadChexpert } from './dataset.js';
import { createImageDataset, errorText, limitRecords, resolveImageSettings } from './image-dataset.js';

export type DataLayout = 'chexpert' | 'mimic-cxr-jpg' | 'mimic-cxr' | 'csv';

export interface DetectedLayout {
  layout: DataLayout;
  /** the folder (or CSV file) the layout was found at */
  root: string;
  /** one line for the terminal, e.g. "MIMIC-CXR-JPG layout at /data/mimic (tables gzipped)" */
  description: string;
}

export interface DatasetLoadOptions extends ChexpertLoadOptions {
  /** MIMIC-CXR: which label CSV, `chexpert` (default) or `negbio`. */
  labels?: 'chexpert' | 'negbio';
}

/** `name` or `name.gz` in `dir`, whichever exists. */
function tableFile(dir: string, name: string): string | undefined {
  for (const f of [join(dir, name), join(dir, `${name}.gz`)]) if (existsSync(f)) return f;
  return undefined;
}

/** A CSV file's text, gunzipped when it ends in .gz. */
async function readTable(file: string): Promise<string> {
  try {
    const bytes = await readFile(file);
    return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  } catch (e) {
    throw new Error(`Cannot read ${file}: ${errorText(e)}`);
  }
}

/** Whether a MIMIC release keeps .jpg or .dcm images: the first split row's image decides. */
function mimicImageKind(root: string): 'jpg' | 'dcm' {
  const filesDir = join(root, 'files');
  if (!existsSync(filesDir)) throw new Error(`The MIMIC-CXR folder ${root} has the tables but no files/ folder of images.`);
  const splitFile = tableFile(root, MIMIC_FILES.split)!;
  const raw = readFileSync(splitFile);
  const head = (splitFile.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8').split('\n', 3);
  const [header, first] = [parseCsv(head[0] ?? '')[0] ?? [], parseCsv(head[1] ?? '')[0] ?? []];
  const at = (c: string) => first[header.indexOf(c)] ?? '';
  const base = join(root, 'files', `p${at('subject_id').slice(0, 2)}`, `p${at('subject_id')}`, `s${at('study_id')}`, at('dicom_id'));
  return existsSync(`${base}.dcm`) && !existsSync(`${base}.jpg`) ? 'dcm' : 'jpg';
}

/** True when a CSV's header is CheXpert's (Path and Frontal/Lateral columns). */
function isChexpertCsv(file: string): boolean {
  const head = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const cols = (parseCsv(head)[0] ?? []).map((c) => c.trim());
  return cols.includes('Path') && cols.includes('Frontal/Lateral');
}

/**
 * Which layout `dir` holds: a CSV file (CheXpert's header, or a generic labelled CSV), a MIMIC-CXR folder (the
 * split CSV beside files/, images .jpg or .dcm), or a CheXpert folder (or its parent).
 * @example detectDataLayout('/data/mimic-cxr-jpg/2.0.0').layout; // 'mimic-cxr-jpg'
 */
export function detectDataLayout(dir: string): DetectedLayout {
  if (!existsSync(dir)) throw new Error(`Data folder "${dir}" does not exist. Pass a CheXpert or MIMIC-CXR folder or a labelled CSV; make a synthetic one with \`chexzoo synth --out ${dir}\`.`);
  if (statSync(dir).isFile()) {
    if (!/\.csv$/i.test(dir)) throw new Error(`--data ${dir} is a file but not a .csv: pass a dataset folder or a CSV of image paths and labels.`);
    return isChexpertCsv(dir)
      ? { layout: 'chexpert', root: dir, description: `CheXpert CSV ${dir}` }
      : { layout: 'csv', root: dir, description: `labelled CSV ${dir} (image paths relative to its folder)` };
  }
  const split = tableFile(dir, MIMIC_FILES.split);
  if (split) {
    const kind = mimicImageKind(dir);
    const gz = split.endsWith('.gz') ? ', tables gzipped' : '';
    return kind === 'dcm'
      ? { layout: 'mimic-cxr', root: dir, description: `MIMIC-CXR layout at ${dir} (DICOM images${gz})` }
      : { layout: 'mimic-cxr-jpg', root: dir, description: `MIMIC-CXR-JPG layout at ${dir} (JPEG images${gz})` };
  }
  try {
    const { root } = findChexpertCsv(dir, 'train');
    return { layout: 'chexpert', root, description: `CheXpert layout at ${root}` };
  } catch (e) {
    throw new Error(`--data '${dir}' is not a CheXpert-format folder (${errorText(e)}), nor a MIMIC-CXR(-JPG) folder (no ${MIMIC_FILES.split} or .csv.gz), nor a labelled CSV file.`);
  }
}

/**
 * Opens MIMIC-CXR-JPG (2.0.0 / 2.1.0) or MIMIC-CXR's DICOM tree (same tables, `.dcm` images) as a batch source.
 * `split` is MIMIC's (`train`, `validate` — `valid` works too — or `test`); views come from ViewPosition; labels
 * from `mimic-cxr-2.0.0-chexpert.csv` or `-negbio.csv` (gzipped or not) with the usual uncertainty policies.
 * @example const ds = await loadMimicCxr('/data/mimic-cxr-jpg/2.0.0', { split: 'validate', views: 'frontal' });
 */
export async function loadMimicCxr(root: string, options: DatasetLoadOptions = {}): Promise<ChexpertDataset> {
  const split = mimicSplit(options.split ?? 'train');
  const labelsName = options.labels ?? 'chexpert';
  if (labelsName !== 'chexpert' && labelsName !== 'negbio') throw new Error(`labels must be 'chexpert' or 'negbio', got '${String(labelsName)}'.`);
  const files = { split: tableFile(root, MIMIC_FILES.split), metadata: tableFile(root, MIMIC_FILES.metadata), labels: tableFile(root, MIMIC_FILES[labelsName]) };
  for (const [what, f] of Object.entries(files)) {
    if (!f) throw new Error(`The MIMIC-CXR folder ${root} lacks the ${what} table (${what === 'labels' ? MIMIC_FILES[labelsName] : MIMIC_FILES[what as 'split']}, gzipped or not).`);
  }
  const ext = mimicImageKind(root);
  const texts = { split: await readTable(files.split!), metadata: await readTable(files.metadata!), labels: await readTable(files.labels!) };
  const joined = joinMimicTables(texts, split, ext);
  const records = limitRecords(joined.records.filter((r) => matchesView(r, options.views ?? 'all')), options.limit, `${files.split} (split ${split})`, options.views);
  const tasks = resolveTasks(options.tasks ?? COMPETITION_TASKS);
  const settings = resolveImageSettings({ ...options, shuffle: options.shuffle ?? split === 'train' }, split);
  const paths = records.map((r) => join(root, r.path));
  const layout = ext === 'dcm' ? 'mimic-cxr' : 'mimic-cxr-jpg';
  return createImageDataset({ root, csvPath: files.labels!, split, tasks, records, files: paths, policy: options, layout }, settings);
}

const SPLIT_NAMES: Record<string, string[]> = { train: ['train', 'training'], valid: ['valid', 'validate', 'validation', 'val'], test: ['test'] };

/** One generic CSV row as a record with labels under the task names (header matched case-insensitively). */
function csvRecord(header: string[], row: string[], at: { pathCol: number; tasks: readonly string[]; line: number; file: string }): LabelledRecord {
  const cell = (name: string) => row[header.findIndex((h) => h.toLowerCase() === name.toLowerCase())] ?? '';
  const labels = csvRowLabels(header, row, at.tasks, at.line, at.file);
  // MIMIC's ViewPosition, or NIH ChestX-ray14's View Position (PA / AP), else CheXpert's two columns
  const position = cell('ViewPosition') || cell('View Position');
  const view = position ? mimicView(position) : { frontalLateral: cell('Frontal/Lateral'), apPa: cell('AP/PA') };
  return { path: (row[at.pathCol] ?? '').trim(), sex: cell('Sex'), age: Number(cell('Age') || NaN), ...view, labels };
}

/** A labelled CSV's header, data rows (with their line numbers) and image path column; refuses a CSV without them. */
function readLabelledTable(text: string, csvPath: string): { header: string[]; body: string[][]; lines: number[]; pathCol: number } {
  let parsed: { rows: string[][]; lines: number[] };
  try {
    parsed = parseCsvLines(text);
  } catch (e) {
    throw new Error(`${csvPath}: ${errorText(e)}`);
  }
  const { rows, lines } = parsed;
  if (rows.length < 2) throw new Error(`${csvPath} has no data rows: expected a header (path, labels...) and one row per image.`);
  const header = rows[0]!.map((h) => h.trim());
  const pathCol = header.findIndex((h) => (CSV_PATH_COLUMNS as readonly string[]).includes(h.toLowerCase()));
  if (pathCol < 0) throw new Error(`${csvPath} has no image path column (one of ${CSV_PATH_COLUMNS.join(', ')}); found ${header.join(', ')}.`);
  return { header, body: rows.slice(1), lines: lines.slice(1), pathCol };
}

/**
 * The tasks a run on a labelled CSV trains (see `resolveCsvTasks`: any label column names; default the 5
 * competition tasks when present, else every label column), read synchronously so a run's config can be
 * resolved before anything else. Other layouts: CheXpert's observations (`resolveTasks`).
 * @example resolveDataTasks('/data/nih.csv', ['nodule', 'Mass']); // ['Nodule', 'Mass']
 */
export function resolveDataTasks(data: string, tasks?: readonly string[]): string[] {
  let layout: DetectedLayout | undefined;
  try {
    layout = detectDataLayout(data);
  } catch {
    layout = undefined; // a missing or unknown folder is reported when the data are read, with the full reason
  }
  if (layout?.layout !== 'csv') return resolveTasks(tasks ?? COMPETITION_TASKS);
  const { header, body } = readLabelledTable(readFileSync(layout.root, 'utf8'), layout.root);
  return resolveCsvTasks(header, body, tasks, layout.root);
}

/**
 * Opens any CSV of image paths (column `path`, `image`, `image_path`, `filename`, `file` or `Image Index`; relative to the CSV's
 * folder) and label columns of any names (1, 0, -1, blank, or 1.0 / 0.0 / -1.0). `tasks` picks label columns
 * case-insensitively; unset, the 5 competition tasks when the CSV has them all, else every label column (not a
 * path / split / view / sex / age column, all non-blank values labels). Uncertain labels: `uncertainty` for every
 * task when given, else U-Ones for CheXpert's observations and U-Zeros for other names (`taskUncertainty`). A
 * `split` column, when present, selects the split (train; valid / validate / val; test); without one every row is
 * used. Views from `ViewPosition` / `View Position` or `Frontal/Lateral` + `AP/PA` when present. Images may be JPEG, PNG or DICOM.
 * @example const ds = await loadLabelledCsv('/data/nih.csv', { split: 'valid', tasks: ['Nodule', 'Mass'] });
 */
export async function loadLabelledCsv(csvPath: string, options: DatasetLoadOptions = {}): Promise<ChexpertDataset> {
  const { header, body, lines, pathCol } = readLabelledTable(await readTable(csvPath), csvPath);
  const tasks = resolveCsvTasks(header, body, options.tasks, csvPath);
  const split = options.split ?? 'train';
  const splitCol = header.findIndex((h) => h.toLowerCase() === 'split');
  const wanted = SPLIT_NAMES[split] ?? [split];
  const root = dirname(csvPath);
  const chosen = body.map((r, i) => [r, lines[i]!] as const).filter(([r]) => splitCol < 0 || wanted.includes((r[splitCol] ?? '').trim().toLowerCase()));
  const all = chosen.map(([r, line]) => csvRecord(header, r, { pathCol, tasks, line, file: csvPath })).filter((r) => matchesView(r, options.views ?? 'all'));
  const records = limitRecords(all, options.limit, `${csvPath} (split ${split})`, options.views);
  const settings = resolveImageSettings(options, split);
  const files = records.map((r) => (isAbsolute(r.path) ? r.path : join(root, r.path)));
  return createImageDataset({ root, csvPath, split: splitCol < 0 ? basename(csvPath, '.csv') : split, tasks, records, files, policy: options, layout: 'csv' }, settings);
}

/**
 * Opens a split of whatever layout `dir` holds (see {@link detectDataLayout}).
 * @example const ds = await loadDataset(args.data, { split: 'valid', imageSize: 224 }); ds.layout;
 */
export async function loadDataset(dir: string, options: DatasetLoadOptions = {}): Promise<ChexpertDataset> {
  const found = detectDataLayout(dir);
  if (found.layout === 'mimic-cxr' || found.layout === 'mimic-cxr-jpg') return loadMimicCxr(found.root, options);
  if (found.layout === 'csv') return loadLabelledCsv(found.root, options);
  return loadChexpert(dir, options);
}

/**
 * Checks that `dir` holds a dataset of a known layout with a train and a validation split, and counts their
 * images (rows of the CSVs; MIMIC: labelled images of train / validate). `tasks`: those a run will train (a
 * labelled CSV's label columns are checked only for them).
 * @example checkDataFolder('/data/mimic-cxr-jpg/2.0.0'); // { layout: 'mimic-cxr-jpg', train: 368960, valid: 2991, ... }
 */
export async function checkDataFolder(dir: string, options: { tasks?: readonly string[] } = {}): Promise<DetectedLayout & { train: number; valid: number }> {
  const found = detectDataLayout(dir);
  const count = async (split: string) => {
    try {
      return (await loadDataset(dir, { split, batchSize: 1, prefetch: 0, cache: false, ...(options.tasks ? { tasks: options.tasks } : {}) })).size;
    } catch (e) {
      throw new Error(`--data '${dir}' (${found.description}): the ${split} split cannot be read: ${errorText(e)}`);
    }
  };
  return { ...found, train: await count('train'), valid: await count('valid') };
}
